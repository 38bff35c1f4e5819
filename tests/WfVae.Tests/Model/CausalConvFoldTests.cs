using WfVae.Modules;
using static TorchSharp.torch;

namespace WfVae.Tests.Model;

/// <summary>
/// Inference folds the replicated front-padding frames of the first chunk into the kernel; it must match the padded
/// convolution (outputs and the Causal Cache tail it leaves) for every short and long first chunk.
/// </summary>
[Collection(GlobalTorchStateCollection.Name)]
public sealed class CausalConvFoldTests
{
    [Theory]
    [InlineData(1, 3)]
    [InlineData(2, 1)]
    [InlineData(3, 2)]
    [InlineData(5, 4)]
    public void Folded_first_chunk_matches_the_padded_convolution_and_leaves_the_same_cache(int firstFrames, int nextFrames)
    {
        manual_seed(7);
        using var conv = new CausalConv3d(4, 6, 3, 1, 1);
        using var x1 = randn(new long[] { 1, 4, firstFrames, 5, 6 });
        using var x2 = randn(new long[] { 1, 4, nextFrames, 5, 6 });

        var (paddedOut, paddedNext) = Run(conv, x1, x2, fold: false);
        var (foldedOut, foldedNext) = Run(conv, x1, x2, fold: true);
        using (paddedOut) using (paddedNext) using (foldedOut) using (foldedNext)
        {
            Assert.Equal(paddedOut.shape, foldedOut.shape);
            Assert.True(paddedOut.allclose(foldedOut, rtol: 0, atol: 1e-5), $"first chunk differs by {paddedOut.sub(foldedOut).abs().max().item<float>()}");
            Assert.True(paddedNext.allclose(foldedNext, rtol: 0, atol: 1e-5), "the cache tail left by the folded chunk differs");
        }
    }

    private static (Tensor First, Tensor Next) Run(CausalConv3d conv, Tensor x1, Tensor x2, bool fold)
    {
        // The padded path is the training one; the folded path is the inference one.
        using var cache = new CausalCache(CacheDirection.Decode);
        using var mode = fold ? inference_mode() : enable_grad();
        Assert.Equal(!fold, is_grad_enabled());
        var pass = fold ? Passes.Chunk(cache) : Passes.Training(cache);
        var first = conv.call(x1, pass).detach();
        var next = conv.call(x2, pass).detach();
        return (first, next);
    }

    [Theory]
    [InlineData(1, 5, 6)]
    [InlineData(3, 4, 4)]
    public void Subpixel_upsample_matches_nearest_upsample_then_conv(int frames, int height, int width)
    {
        manual_seed(11);
        using var up = new Upsample2D(5, 7);
        using var x = randn(new long[] { 2, 5, frames, height, width });
        Tensor reference, subPixel;
        using (enable_grad()) reference = up.call(x, Passes.Training()).detach();
        using (inference_mode())
        {
            Assert.False(is_grad_enabled());
            subPixel = up.call(x, Passes.Whole());
        }
        using (reference) using (subPixel)
        {
            Assert.Equal(new long[] { 2, 7, frames, 2 * height, 2 * width }, subPixel.shape);
            Assert.True(reference.allclose(subPixel, rtol: 0, atol: 1e-5), $"differs by {reference.sub(subPixel).abs().max().item<float>()}");
        }
    }
}
