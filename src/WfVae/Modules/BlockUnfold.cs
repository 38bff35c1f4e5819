using static TorchSharp.torch;

namespace WfVae.Modules;

/// <summary>
/// A transposed convolution whose stride equals its kernel (each input voxel writes its own output block, no
/// overlap), as one matrix product and a reshape. libtorch 2.10's CPU <c>conv_transpose3d</c> leaves part of its
/// output unwritten for such kernels when the batch is larger than one and frames are a few pixels wide (the
/// tiny models' latents), returning whatever the allocator's memory held; this form writes every element.
/// </summary>
internal static class BlockUnfold
{
    /// <summary>
    /// x (N, K, T, H, W) and filters (K, 1, kt, kh, kw) → (N, 1, T·kt, H·kh, W·kw), equal to
    /// <c>conv_transpose3d(x, filters, stride: [kt, kh, kw])</c> up to summation order.
    /// </summary>
    public static Tensor Apply(Tensor x, Tensor filters)
    {
        using var scope = NewDisposeScope();
        long n = x.shape[0], k = x.shape[1], t = x.shape[2], h = x.shape[3], w = x.shape[4];
        long kt = filters.shape[2], kh = filters.shape[3], kw = filters.shape[4];
        var m = filters.reshape(k, kt * kh * kw).to(x.dtype);                 // (K, kt·kh·kw)
        var cols = x.reshape(n, k, t * h * w).transpose(1, 2);                 // (N, T·H·W, K)
        var blocks = cols.matmul(m).view(n, t, h, w, kt, kh, kw);              // each voxel's output block
        var y = blocks.permute(0, 1, 4, 2, 5, 3, 6).reshape(n, 1, t * kt, h * kh, w * kw);
        return scope.MoveToOuter(y);
    }
}
