using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace WfVae.Modules;

/// <summary>
/// conv3d with the input channels zero-padded to a multiple of 16 on the CPU. libtorch 2.10's oneDNN kernels on
/// AVX-512 reorder the input into blocks of 16 channels and leave the padding lanes of that buffer unwritten, so a
/// conv over, say, 24 channels reads whatever the allocator's memory held: wrong values, NaN when it held NaN
/// (the reconstruct black frames; tests that failed after other tests). With the channels padded by us, the
/// reorder has nothing to pad. AVX2 blocks by 8 and is safe either way; one input channel is never blocked.
/// </summary>
internal static class ChannelPaddedConv
{
    private const long Block = 16;

    public static Tensor Conv3d(ForwardPass pass, Tensor x, Tensor weight, Tensor? bias, long[]? stride = null, long[]? padding = null)
    {
        stride ??= [1, 1, 1];
        padding ??= [0, 0, 0];
        long ci = x.shape[1];
        if (x.device_type != TorchSharp.DeviceType.CPU || ci == 1 || ci % Block == 0 || pass.UseChannelsLast(x))
            return F.conv3d(x, weight, bias, stride, padding);
        long extra = Block - ci % Block;
        using var xp = F.pad(x, [0, 0, 0, 0, 0, 0, 0, extra]);        // zero channels after the real ones
        using var wp = F.pad(weight, [0, 0, 0, 0, 0, 0, 0, extra]);   // and zero weights for them
        return F.conv3d(xp, wp, bias, stride, padding);
    }
}
