using TorchSharp;
using WfVae.Diagnostics;
using WfVae.Modules;
using static TorchSharp.torch;
using static WfVae.Tests.Model.FixtureData;

namespace WfVae.Tests.Model;

/// <summary>
/// Reads of memory that was never written. libtorch 2.10's CPU conv_transpose3d with stride = kernel leaves part of
/// its output unwritten when the batch is above one and frames are 1–3 pixels wide; the inverse wavelets ran on it,
/// so tiny models decoded whatever earlier tests had left in freed memory (NaN or wrong values, order-dependent).
/// </summary>
public sealed class UninitializedMemoryTests
{
    [Fact]
    public void Tests_run_with_fresh_cpu_buffers_filled_with_nan()
    {
        Assert.True(NativeAllocatorPoison.Enabled);
        using var fresh = empty(4096);
        Assert.True(fresh.isnan().all().item<bool>(), "a fresh libtorch buffer is not NaN-filled: the poisoning guard is off");
    }

    [Theory]
    [InlineData(3, 8, 1, 2, 2, 2)]
    [InlineData(3, 8, 2, 1, 3, 2)]
    [InlineData(2, 4, 2, 3, 3, 1)]
    [InlineData(6, 8, 1, 1, 1, 2)]
    [InlineData(1, 8, 3, 5, 4, 2)]
    public void Block_unfold_equals_the_element_by_element_transposed_conv(int n, int k, int t, int h, int w, int kt)
    {
        using var scope = NewDisposeScope();
        var x = randn(new long[] { n, k, t, h, w }, generator: new Generator(3));
        var f = randn(new long[] { k, 1, kt, 2, 2 }, generator: new Generator(4));
        var y = BlockUnfold.Apply(x, f);
        Assert.Equal(new long[] { n, 1, t * kt, h * 2, w * 2 }, y.shape);
        var xs = x.to(ScalarType.Float64).data<double>().ToArray();
        var fs = f.to(ScalarType.Float64).data<double>().ToArray();
        var ys = y.data<float>().ToArray();
        long oh = h * 2, ow = w * 2, ot = t * kt;
        for (int b = 0; b < n; b++)
        for (int ti = 0; ti < ot; ti++)
        for (int yi = 0; yi < oh; yi++)
        for (int xi = 0; xi < ow; xi++)
        {
            double s = 0;
            for (int c = 0; c < k; c++)
                s += xs[(((b * k + c) * t + ti / kt) * h + yi / 2) * w + xi / 2] * fs[((c * kt + ti % kt) * 2 + yi % 2) * 2 + xi % 2];
            float got = ys[((b * ot + ti) * oh + yi) * ow + xi];
            Assert.True(Math.Abs(got - s) <= 1e-5 * (1 + Math.Abs(s)), $"({b},{ti},{yi},{xi}): {got} vs {s}");
        }
    }

    [Fact]
    public void Tiny_latents_decode_to_finite_frames_whole_and_chunked()
    {
        // 2×2 latents: the inverse wavelets see 1–4 pixel frames with 3 colours as the batch.
        using var model = WfVaeModel.Create(WfVae.Tests.Training.TrainerTests.TinyConfig, seed: 3);
        using var scope = NewDisposeScope();
        foreach (long t in new long[] { 1, 3 })
        {
            var z = randn(new long[] { 1, 4, t, 2, 2 }, generator: new Generator(5));
            var whole = model.Decode(z, WfVaeModel.WholeVideo);
            Assert.True(whole.isfinite().all().item<bool>(), $"whole decode of {t} latent frames has non-finite values");
            AssertClose(whole, model.Decode(z, chunkLatentFrames: 1), 1e-5, $"chunked decode of {t} latent frames");
        }
    }
}

/// <summary>
/// oneDNN on AVX-512 reorders conv inputs into blocks of 16 channels and leaves the padding lanes unwritten; from
/// about a million pixels per call libtorch picks it, so a 24-channel conv (the encoder's first) read freed memory.
/// </summary>
public sealed class ChannelPaddingTests
{
    [Theory]
    [InlineData(24, 8, 8, 128)]
    [InlineData(12, 20, 16, 64)]
    [InlineData(40, 16, 4, 256)]
    public void Frame_conv_over_channels_not_a_multiple_of_16_equals_the_float64_conv(int inCh, int outCh, int frames, int size)
    {
        using var mode = inference_mode();
        using var scope = NewDisposeScope();
        using var conv = new FrameConv2d(inCh, outCh, 3, 1, 1);
        var x = rand(new long[] { 1, inCh, frames, size, size }, generator: new Generator(2)) * 2 - 1;
        var y = conv.call(x, Passes.Whole());
        var reference = nn.functional.conv3d(x.to(ScalarType.Float64), conv.weight.unsqueeze(2).to(ScalarType.Float64), conv.bias.to(ScalarType.Float64), padding: [0, 1, 1]);
        AssertClose(reference.to(ScalarType.Float32), y, 1e-4, $"{inCh}-channel frame conv at {size}px x {frames} frames");
    }

    [Fact]
    public void Chunked_encode_of_large_chunks_equals_whole_and_is_finite()
    {
        // 128² frames in chunks of 16: the first per-frame conv (24 channels at 64²×16) runs in oneDNN.
        using var model = WfVaeModel.Load(TestPaths.TinyModelDir);
        using var scope = NewDisposeScope();
        var x = rand(new long[] { 1, 3, 17, 128, 128 }, generator: new Generator(8)) * 2 - 1;
        using var whole = model.Encode(x, WfVaeModel.WholeVideo);
        using var chunked = model.Encode(x, chunkFrames: 16);
        Assert.True(whole.Mean.isfinite().all().item<bool>(), "whole encode is not finite");
        AssertClose(whole.Mean, chunked.Mean, 1e-5, "chunked encode");
    }
}

public sealed class ModelOwnershipTests
{
    [Fact]
    public void A_model_loaded_inside_a_dispose_scope_keeps_its_weights_after_the_scope()
    {
        WfVaeModel model;
        using (NewDisposeScope()) model = WfVaeModel.Load(TestPaths.TinyModelDir);
        using (model)
        using (var scope = NewDisposeScope())
        using (var posterior = model.Encode(rand(new long[] { 1, 3, 5, 16, 16 }) * 2 - 1))
            Assert.True(posterior.Mean.isfinite().all().item<bool>());
    }
}
