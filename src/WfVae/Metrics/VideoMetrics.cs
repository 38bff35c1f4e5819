using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace WfVae.Metrics;

/// <summary>
/// Reconstruction metrics of the official evaluation scripts (WF-VAE <c>causalvideovae/eval</c>, spec §7.4) on
/// video tensors (B, 3, T, H, W) in [-1, 1]. Both inputs are clamped to [-1, 1] and mapped to [0, 1] first (the
/// official pipeline compares saved 8-bit videos, whose values are in [0, 1]); computation is in float64 on CPU.
/// </summary>
public static class VideoMetrics
{
    /// <summary>The value reported when the mean PSNR is infinite (identical videos), as <c>cal_psnr.py</c> does.</summary>
    public const double IdenticalPsnr = 100.0;

    /// <summary>Side of the Gaussian window of SSIM.</summary>
    public const int SsimWindow = 11;

    /// <summary>Standard deviation of the Gaussian window of SSIM.</summary>
    public const double SsimSigma = 1.5;

    /// <summary>
    /// PSNR in dB: per frame MSE over (C, H, W) on [0, 1], <c>20·log10(1/√MSE)</c>, mean over all frames of all videos;
    /// <see cref="IdenticalPsnr"/> when that mean is infinite (some frame reconstructed exactly).
    /// </summary>
    public static double Psnr(Tensor reference, Tensor reconstruction)
    {
        var perFrame = PsnrPerFrame(reference, reconstruction);
        double mean = perFrame.Average();
        return double.IsPositiveInfinity(mean) ? IdenticalPsnr : mean;
    }

    /// <summary>PSNR of every frame, ordered (b, t); +∞ for an exactly reconstructed frame.</summary>
    public static double[] PsnrPerFrame(Tensor reference, Tensor reconstruction)
    {
        CheckPair(reference, reconstruction);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var (x, y) = (ToUnit(reference), ToUnit(reconstruction));
        var mse = x.sub(y).square().mean([1, 3, 4]).flatten(); // (B·T)
        var values = mse.data<double>().ToArray();
        return values.Select(m => m == 0 ? double.PositiveInfinity : 20.0 * Math.Log10(1.0 / Math.Sqrt(m))).ToArray();
    }

    /// <summary>
    /// SSIM: per frame and colour channel on [0, 1] in float64, Gaussian 11×11 window with σ = 1.5 applied 'valid'
    /// (no padding: 5 px cropped per side), C1 = 0.01², C2 = 0.03²; mean of the SSIM map, then over channels, frames and videos.
    /// Frames must be at least 11×11.
    /// </summary>
    public static double Ssim(Tensor reference, Tensor reconstruction) => SsimPerFrame(reference, reconstruction).Average();

    /// <summary>SSIM of every frame (mean over its 3 channels), ordered (b, t).</summary>
    public static double[] SsimPerFrame(Tensor reference, Tensor reconstruction)
    {
        CheckPair(reference, reconstruction);
        long b = reference.shape[0], c = reference.shape[1], t = reference.shape[2], h = reference.shape[3], w = reference.shape[4];
        if (h < SsimWindow || w < SsimWindow)
            throw new ArgumentException($"SSIM needs frames of at least {SsimWindow}×{SsimWindow} pixels, got {h}×{w}.");
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        // (B, C, T, H, W) -> (B·T·C, 1, H, W): every channel of every frame is one single-channel image.
        Tensor Planes(Tensor v) => ToUnit(v).permute(0, 2, 1, 3, 4).reshape(b * t * c, 1, h, w);
        var x = Planes(reference);
        var y = Planes(reconstruction);
        // The 11×11 Gaussian window is the outer product of two 1-D windows, so a 'valid' filter is a product with a
        // banded matrix per axis: the same sums as the 2-D convolution, as two float64 matrix products.
        var bandW = GaussianBand(w);
        var bandHt = GaussianBand(h).t();
        Tensor Filter(Tensor v)
        {
            using var rows = v.matmul(bandW);
            return bandHt.matmul(rows);
        }
        const double c1 = 0.01 * 0.01, c2 = 0.03 * 0.03;
        var muX = Filter(x);
        var muY = Filter(y);
        var muX2 = muX.square();
        var muY2 = muY.square();
        var muXY = muX.mul(muY);
        var sigX2 = Filter(x.square()).sub_(muX2);
        var sigY2 = Filter(y.square()).sub_(muY2);
        var sigXY = Filter(x.mul(y)).sub_(muXY);
        var num = muXY.mul(2).add_(c1).mul_(sigXY.mul(2).add_(c2));
        var den = muX2.add(muY2).add_(c1).mul_(sigX2.add(sigY2).add_(c2));
        var perPlane = num.div_(den).mean([1, 2, 3]).reshape(b * t, c).mean([1]);
        return perPlane.data<double>().ToArray();
    }

    /// <summary>(n, n − 10): column j holds the normalised 1-D Gaussian window at rows j … j + 10 ('valid' filtering of n samples).</summary>
    private static Tensor GaussianBand(long n)
    {
        var g = new double[SsimWindow];
        double sum = 0;
        for (int i = 0; i < SsimWindow; i++)
        {
            double d = i - (SsimWindow - 1) / 2.0;
            g[i] = Math.Exp(-d * d / (2 * SsimSigma * SsimSigma));
            sum += g[i];
        }
        long m = n - SsimWindow + 1;
        var band = new double[n * m];
        for (long j = 0; j < m; j++)
            for (int i = 0; i < SsimWindow; i++)
                band[(j + i) * m + j] = g[i] / sum;
        return tensor(band, [n, m], ScalarType.Float64);
    }

    private static Tensor ToUnit(Tensor v) => v.detach().to(ScalarType.Float64, CPU).clamp(-1.0, 1.0).add(1.0).mul_(0.5);

    private static void CheckPair(Tensor a, Tensor b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.dim() != 5 || a.shape[1] != 3)
            throw new ArgumentException($"video metrics take (B, 3, T, H, W) tensors in [-1, 1], got shape [{string.Join(",", a.shape)}].");
        if (!a.shape.SequenceEqual(b.shape))
            throw new ArgumentException($"reference and reconstruction shapes differ: [{string.Join(",", a.shape)}] vs [{string.Join(",", b.shape)}].");
    }
}
