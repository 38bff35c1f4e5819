using static TorchSharp.torch;

namespace WfVae.Modules;

/// <summary>
/// Training-mode dropout whose mask is drawn from a caller-given <see cref="Generator"/> (TorchSharp's dropout takes
/// none and would read the global RNG): the same math as libtorch's CPU dropout, keep ~ Bernoulli(1 − p), scaled 1/(1 − p).
/// </summary>
internal static class GeneratorDropout
{
    /// <summary>A fresh tensor: <paramref name="x"/> with each element zeroed with probability <paramref name="p"/>, the rest scaled by 1/(1 − p).</summary>
    public static Tensor Apply(Tensor x, double p, Generator generator)
    {
        if (p <= 0) return x.clone();
        if (p >= 1) return zeros_like(x);
        using var keep = empty_like(x).bernoulli_(1 - p, generator);
        keep.div_(1 - p);
        return x.mul(keep);
    }
}
