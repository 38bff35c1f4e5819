using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace WfVae.Training;

/// <summary>The terms of the generator objective of one batch, as scalar fp32 tensors (see <see cref="WfVaeObjective"/>).</summary>
internal sealed record GeneratorLossTerms(Tensor AbsoluteErrorSum, Tensor SquaredErrorSum, Tensor Reconstruction, Tensor Kl, Tensor Wavelet)
{
    /// <summary>Reconstruction + KlWeight·KL + WaveletWeight·wavelet (before any adversarial term or pixel scaling).</summary>
    public required Tensor Total { get; init; }
}

/// <summary>
/// The official WF-VAE training objective (spec §7): reconstruction Σ|x − x̂|/(B·T) (plus an optional squared-error
/// term), KL Σ/B, the wavelet energy-flow loss Σ|W − Ŵ|/B, the PatchGAN hinge loss and the adaptive adversarial weight.
/// Pure functions of their inputs: no parameters, no randomness.
/// </summary>
internal static class WfVaeObjective
{
    /// <summary>The non-adversarial terms for video <paramref name="x"/>, its reconstruction and the posterior moments.</summary>
    public static GeneratorLossTerms Generator(TrainingOptions o, Tensor x, Tensor recon, Tensor moments, Tensor w2, Tensor w3, Tensor w2Hat, Tensor w3Hat)
    {
        long b = x.shape[0], t = x.shape[2];
        var diff = x.to(ScalarType.Float32).sub(recon.to(ScalarType.Float32));
        var absSum = diff.abs().sum();
        var sqSum = diff.square().sum();
        var rec = absSum.div(b * t);
        if (o.MseWeight > 0) rec = rec.add(sqSum.div(b * t).mul(o.MseWeight));
        var parts = moments.to(ScalarType.Float32).chunk(2, 1);
        var logvar = parts[1].clamp(-30, 20);
        var kl = parts[0].square().add(logvar.exp()).sub(1).sub(logvar).sum().mul(0.5 / b);
        var wl = WaveletL1(w2, w2Hat).add(WaveletL1(w3, w3Hat)).div(b);
        return new GeneratorLossTerms(absSum, sqSum, rec, kl, wl) { Total = rec.add(kl.mul(o.KlWeight)).add(wl.mul(o.WaveletWeight)) };
    }

    /// <summary>Generator adversarial loss −mean D(x̂).</summary>
    public static Tensor GeneratorAdversarial(Tensor fakeLogits) => fakeLogits.to(ScalarType.Float32).mean().neg();

    /// <summary>
    /// Official adaptive weight ‖∇rec‖ / (‖∇adv‖ + 1e−6) at the decoder's last layer, clamped to [0, 1e6], times
    /// DiscriminatorWeight; 0 when not finite.
    /// </summary>
    public static double AdaptiveAdversarialWeight(TrainingOptions o, Tensor reconstruction, Tensor adversarial, Tensor lastLayerWeight)
    {
        var recGrad = TorchSharp.torch.autograd.grad([reconstruction], [lastLayerWeight], retain_graph: true)[0];
        var advGrad = TorchSharp.torch.autograd.grad([adversarial], [lastLayerWeight], retain_graph: true)[0];
        double rn = recGrad.to(ScalarType.Float32).norm().item<float>(), gn = advGrad.to(ScalarType.Float32).norm().item<float>();
        double weight = Math.Clamp(rn / (gn + 1e-6), 0, 1e6) * o.DiscriminatorWeight;
        return double.IsFinite(weight) ? weight : 0;
    }

    /// <summary>Discriminator hinge loss ½(mean relu(1 − D(x)) + mean relu(1 + D(x̂))).</summary>
    public static Tensor DiscriminatorHinge(Tensor realLogits, Tensor fakeLogits) =>
        F.relu(realLogits.to(ScalarType.Float32).neg().add(1)).mean().add(F.relu(fakeLogits.to(ScalarType.Float32).add(1)).mean()).mul(0.5);

    private static Tensor WaveletL1(Tensor w, Tensor wHat) => w.to(ScalarType.Float32).sub(wHat.to(ScalarType.Float32)).abs().sum();
}
