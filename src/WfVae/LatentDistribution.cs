using static TorchSharp.torch;

namespace WfVae;

/// <summary>
/// The diagonal Gaussian posterior the encoder produces (official DiagonalGaussianDistribution): mean and
/// log-variance clamped to [-30, 20], each (B, z, t, h, w).
/// </summary>
public sealed class LatentDistribution : IDisposable
{
    /// <summary>Posterior mean (the latent used by <c>mode()</c>).</summary>
    public Tensor Mean { get; }
    /// <summary>Clamped log-variance.</summary>
    public Tensor LogVar { get; }

    internal LatentDistribution(Tensor moments)
    {
        using var scope = NewDisposeScope();
        var parts = moments.chunk(2, 1);
        Mean = parts[0].contiguous().MoveToOuterDisposeScope();
        LogVar = parts[1].clamp(-30.0, 20.0).MoveToOuterDisposeScope();
    }

    /// <summary>A posterior from its mean and log-variance (B, z, t, h, w), e.g. latents encoded chunk by chunk; takes ownership of both.</summary>
    public LatentDistribution(Tensor mean, Tensor logVar)
    {
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(logVar);
        if (!mean.shape.SequenceEqual(logVar.shape))
            throw new ArgumentException($"mean [{string.Join(",", mean.shape)}] and log-variance [{string.Join(",", logVar.shape)}] differ in shape.");
        // Owned by this object, not by any dispose scope the caller has open.
        Mean = mean.DetachFromDisposeScope();
        LogVar = logVar.clamp(-30.0, 20.0).DetachFromDisposeScope();
        logVar.Dispose();
    }

    /// <summary>Standard deviation exp(logvar / 2).</summary>
    public Tensor Std() => LogVar.mul(0.5).exp_();

    /// <summary>Draws mean + std·ε with ε from a generator seeded with <paramref name="seed"/> (reproducible).</summary>
    public Tensor Sample(long seed)
    {
        using var scope = NewDisposeScope();
        using var gen = new TorchSharp.torch.Generator((ulong)seed, Mean.device);
        var eps = randn(Mean.shape, dtype: Mean.dtype, device: Mean.device, generator: gen);
        return scope.MoveToOuter(Mean.add(Std().mul_(eps)));
    }

    /// <summary>KL divergence to N(0, I) per sample: 0.5·Σ(mean² + var − 1 − logvar) over C, T, H, W.</summary>
    public Tensor Kl()
    {
        using var scope = NewDisposeScope();
        var kl = Mean.square().add(LogVar.exp()).sub_(1).sub_(LogVar).sum([1, 2, 3, 4]).mul_(0.5);
        return scope.MoveToOuter(kl);
    }

    public void Dispose()
    {
        Mean.Dispose();
        LogVar.Dispose();
    }
}
