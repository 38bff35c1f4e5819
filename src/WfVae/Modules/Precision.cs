using TorchSharp;
using static TorchSharp.torch;

namespace WfVae.Modules;

/// <summary>Mixed precision: convolutions in the chosen dtype, norm parameters (and so norm statistics) in Float32.</summary>
internal static class Precision
{
    /// <summary>Casts <paramref name="module"/> to <paramref name="dtype"/>, keeping every <see cref="ChannelNorm"/> in Float32.</summary>
    public static void Cast(nn.Module module, ScalarType dtype)
    {
        module.to(dtype);
        if (dtype == ScalarType.Float32 || dtype == ScalarType.Float64) return;
        foreach (var (_, m) in module.named_modules())
            if (m is ChannelNorm norm) norm.to(ScalarType.Float32);
    }
}
