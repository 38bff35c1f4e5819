using WfVae.Modules;
using static TorchSharp.torch;

namespace WfVae.Tests.Model;

/// <summary>
/// Inference runs wide 3×3 convolutions as Winograd F(2×2, 3×3) or F(4×4, 3×3) products; they must match the direct convolution
/// (outputs and the Causal Cache tail) for first and later chunks, odd frame sizes and batches.
/// </summary>
[Collection(GlobalTorchStateCollection.Name)]
public sealed class WinogradConvTests
{
    [Theory]
    [InlineData(1, 3, 16, 16, 1, 72)]
    [InlineData(2, 1, 17, 19, 2, 72)]
    [InlineData(5, 4, 17, 18, 1, 72)]
    [InlineData(2, 2, 64, 66, 1, 72)]  // 4×4 output tiles from 64×64 on
    [InlineData(1, 1, 16, 16, 2, 128)] // short chunks, wide output: weights transformed in output-channel blocks
    [InlineData(1, 2, 64, 64, 1, 128)] // the same with 4×4 tiles
    public void Causal_conv_matches_the_direct_convolution_and_leaves_the_same_cache(int firstFrames, int nextFrames, int height, int width, int batch, int outChannels)
    {
        manual_seed(5);
        using var conv = new CausalConv3d(64, outChannels, 3, 1, 1);
        using var x1 = randn(new long[] { batch, 64, firstFrames, height, width });
        using var x2 = randn(new long[] { batch, 64, nextFrames, height, width });
        using (inference_mode()) Assert.True(WinogradConv.Applies(x1, conv.Weight, 1, 1, Passes.Whole()), "this case must take the Winograd path");

        var (directFirst, directNext) = Run(conv, x1, x2, inference: false);
        var (winoFirst, winoNext) = Run(conv, x1, x2, inference: true);
        Precision.Cast(conv, ScalarType.Float64);
        using var x1d = x1.to(ScalarType.Float64);
        using var x2d = x2.to(ScalarType.Float64);
        var (exactFirst, exactNext) = Run(conv, x1d, x2d, inference: false);
        using (directFirst) using (directNext) using (winoFirst) using (winoNext) using (exactFirst) using (exactNext)
        {
            Assert.Equal(directFirst.shape, winoFirst.shape);
            Assert.Equal(directNext.shape, winoNext.shape);
            AssertAsAccurate(exactFirst, directFirst, winoFirst, "first chunk");
            AssertAsAccurate(exactNext, directNext, winoNext, "chunk after the cache");
        }
    }

    [Theory]
    [InlineData(17, 19)] // 2×2 tiles: bands of 2 tile rows, the last one short
    [InlineData(66, 64)] // 4×4 tiles
    public void Large_frames_in_bands_of_tile_rows_match_the_direct_convolution(int height, int width)
    {
        manual_seed(9);
        using var conv = new CausalConv3d(64, 128, 3, 1, 1);
        using var x1 = randn(new long[] { 1, 64, 2, height, width });
        using var x2 = randn(new long[] { 1, 64, 1, height, width });
        var (directFirst, directNext) = Run(conv, x1, x2, inference: false);
        var bands = WfVaeInferenceOptions.Default with { WinogradBandElements = 2 * 64 * 36 * 17, WinogradBandMinTiles = 1 }; // two tile rows per band
        Assert.True(WinogradConv.BandRows(64, 16, (height + 1) / 2, (width + 1) / 2, bands) < (height + 1) / 2);
        var (winoFirst, winoNext) = Run(conv, x1, x2, inference: true, bands);
        using (directFirst) using (directNext) using (winoFirst) using (winoNext)
        {
            AssertClose(directFirst, winoFirst, "first chunk in bands");
            AssertClose(directNext, winoNext, "next chunk in bands");
        }
    }

    [Fact]
    public void Short_chunks_transform_the_weights_in_blocks_and_long_inputs_roll_frame_by_frame()
    {
        // The two block-mode cases above: 1 distinct frame of 16×16 (2×2 tiles) or 64×64 (4×4 tiles), 64 → 128 channels.
        Assert.Equal(64, WinogradConv.OutputBlock(co: 128, ci: 64, kt: 3, points: 16, tiles: 64, distinctFrames: 1));
        Assert.Equal(64, WinogradConv.OutputBlock(co: 128, ci: 64, kt: 3, points: 36, tiles: 256, distinctFrames: 1));
        // WF-VAE-L's 768-channel upsampler conv at 64×64: a 4-frame chunk goes in 5 blocks, a 19-frame video rolls.
        Assert.Equal(154, WinogradConv.OutputBlock(co: 768, ci: 768, kt: 3, points: 36, tiles: 256, distinctFrames: 4));
        Assert.Equal(768, WinogradConv.OutputBlock(co: 768, ci: 768, kt: 3, points: 36, tiles: 256, distinctFrames: 19));
    }

    [Fact]
    public void Whole_video_matches_the_direct_convolution()
    {
        manual_seed(6);
        using var conv = new CausalConv3d(96, 64, 3, 1, 1);
        using var x = randn(new long[] { 1, 96, 6, 16, 20 });
        Tensor direct, wino;
        using (enable_grad()) direct = conv.call(x, Passes.Training()).detach();
        using (inference_mode()) wino = conv.call(x, Passes.Whole());
        using (direct) using (wino) AssertClose(direct, wino, "whole video");
    }

    [Fact]
    public void Narrow_or_small_convolutions_keep_the_direct_path()
    {
        using var x = randn(new long[] { 1, 16, 3, 32, 32 });
        using var w = randn(new long[] { 64, 16, 3, 3, 3 });
        using var small = randn(new long[] { 1, 64, 3, 8, 8 });
        using var w64 = randn(new long[] { 64, 64, 3, 3, 3 });
        using var strided = randn(new long[] { 64, 64, 3, 3, 3 });
        using (inference_mode())
        {
            Assert.False(WinogradConv.Applies(x, w, 1, 1, Passes.Whole()));        // 16 input channels
            Assert.False(WinogradConv.Applies(small, w64, 1, 1, Passes.Whole()));  // 16 tiles per frame
            Assert.False(WinogradConv.Applies(x, strided, 2, 0, Passes.Whole()));  // stride 2
        }
        Assert.False(WinogradConv.Applies(small, w64, 1, 1, Passes.Training())); // training keeps autograd's conv
        Assert.False(WinogradConv.Applies(small, w64, 1, 1, Passes.Whole(Passes.Direct))); // switched off
    }

    private static (Tensor First, Tensor Next) Run(CausalConv3d conv, Tensor x1, Tensor x2, bool inference, WfVaeInferenceOptions? options = null)
    {
        // The direct (padded) path is the training one.
        using var cache = new CausalCache(CacheDirection.Decode);
        using var mode = inference ? inference_mode() : enable_grad();
        var pass = inference ? Passes.Chunk(cache, options) : Passes.Training(cache);
        var first = conv.call(x1, pass).detach();
        var next = conv.call(x2, pass).detach();
        return (first, next);
    }

    /// <summary>
    /// Against a float64 reference, Winograd's error stays at fp32 precision: within 1e-5 of the output's magnitude
    /// (the direct conv here is ~1e-6 of it; F(2×2, 3×3) matches that, F(4×4, 3×3) rounds up to ~10× more) and
    /// never more than 20× the direct fp32 convolution's own error.
    /// </summary>
    private static void AssertAsAccurate(Tensor exact, Tensor direct, Tensor wino, string what)
    {
        double scale = exact.abs().max().item<double>();
        double directErr = direct.to(ScalarType.Float64).sub(exact).abs().max().item<double>();
        double winoErr = wino.to(ScalarType.Float64).sub(exact).abs().max().item<double>();
        Assert.True(winoErr <= 1e-5 * scale && winoErr <= 20 * directErr,
            $"{what}: Winograd error {winoErr:E2}, direct conv {directErr:E2}, max |y| {scale:F2} (float64 reference)");
    }

    private static void AssertClose(Tensor expected, Tensor actual, string what) =>
        Assert.True(expected.allclose(actual, rtol: 0, atol: 2e-5), $"{what} differs by {expected.sub(actual).abs().max().item<float>()}");
}
