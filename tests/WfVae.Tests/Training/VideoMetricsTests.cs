using TorchSharp;
using WfVae.Metrics;
using static TorchSharp.torch;

namespace WfVae.Tests.Training;

public sealed class VideoMetricsTests
{
    private static Tensor RandomVideo(long seed, long b = 1, long t = 3, long h = 24, long w = 20)
    {
        using var gen = new torch.Generator((ulong)seed);
        return torch.rand([b, 3, t, h, w], generator: gen).mul_(2).sub_(1);
    }

    [Fact]
    public void IdenticalVideosGivePsnr100AndSsim1()
    {
        using var x = RandomVideo(1);
        Assert.Equal(VideoMetrics.IdenticalPsnr, VideoMetrics.Psnr(x, x));
        Assert.Equal(1.0, VideoMetrics.Ssim(x, x), 12);
    }

    [Fact]
    public void KnownConstantErrorGivesExactPsnr()
    {
        // An offset of 0.2 in [-1, 1] is 0.1 in [0, 1]: MSE = 0.01 ⇒ PSNR = 20·log10(1/0.1) = 20 dB.
        using var x = torch.zeros([2, 3, 5, 16, 16]);
        using var y = x.add(0.2);
        Assert.Equal(20.0, VideoMetrics.Psnr(x, y), 6);
    }

    [Fact]
    public void GaussianNoisePsnrMatchesItsVariance()
    {
        // Noise σ = 0.02 on [0, 1] ⇒ MSE ≈ 4e-4 ⇒ PSNR ≈ 33.98 dB (values kept away from the clamp).
        using var gen = new torch.Generator(7);
        using var x = torch.rand([1, 3, 4, 64, 64], generator: gen).mul_(1.2).sub_(0.6);
        using var y = x.add(torch.randn(x.shape, generator: gen).mul_(0.04));
        Assert.Equal(10 * Math.Log10(1 / 4e-4), VideoMetrics.Psnr(x, y), 1);
    }

    [Fact]
    public void PsnrIsMeanOfPerFramePsnr()
    {
        using var x = torch.zeros([1, 3, 2, 16, 16]);
        using var y = x.clone();
        y.narrow(2, 0, 1).add_(0.2);   // frame 0: 20 dB
        y.narrow(2, 1, 1).add_(0.02);  // frame 1: 40 dB
        var frames = VideoMetrics.PsnrPerFrame(x, y);
        Assert.Equal(20.0, frames[0], 6);
        Assert.Equal(40.0, frames[1], 6);
        Assert.Equal(30.0, VideoMetrics.Psnr(x, y), 6);
    }

    [Fact]
    public void SsimEqualsTheTwoDimensionalGaussianWindowComputation()
    {
        // The definition, computed directly: one 11×11 Gaussian conv2d per statistic, 'valid', float64.
        using var scope = NewDisposeScope();
        var x = RandomVideo(21, b: 2, t: 2, h: 23, w: 31);
        var y = x.add(RandomVideo(22, b: 2, t: 2, h: 23, w: 31).mul(0.3)).clamp(-1, 1);
        var g = Enumerable.Range(0, 11).Select(i => Math.Exp(-(i - 5) * (i - 5) / (2 * 1.5 * 1.5))).ToArray();
        double sum = g.Sum();
        var k2 = new double[121];
        for (int i = 0; i < 11; i++) for (int j = 0; j < 11; j++) k2[i * 11 + j] = g[i] / sum * (g[j] / sum);
        var k = tensor(k2, [1, 1, 11, 11], ScalarType.Float64);
        Tensor Planes(Tensor v) => v.to(ScalarType.Float64).add(1).mul(0.5).permute(0, 2, 1, 3, 4).reshape(12, 1, 23, 31);
        Tensor Filt(Tensor v) => nn.functional.conv2d(v, k);
        var (a, c) = (Planes(x), Planes(y));
        var (ma, mc) = (Filt(a), Filt(c));
        var va = Filt(a * a) - ma * ma;
        var vc = Filt(c * c) - mc * mc;
        var cov = Filt(a * c) - ma * mc;
        var map = (2 * ma * mc + 1e-4) * (2 * cov + 9e-4) / ((ma * ma + mc * mc + 1e-4) * (va + vc + 9e-4));
        var expected = map.mean([1, 2, 3]).reshape(4, 3).mean([1]).data<double>().ToArray();
        var actual = VideoMetrics.SsimPerFrame(x, y);
        for (int i = 0; i < 4; i++) Assert.Equal(expected[i], actual[i], 1e-12);
    }

    [Fact]
    public void SsimDropsWithNoiseAndIsSymmetric()
    {
        using var x = RandomVideo(3, t: 2, h: 32, w: 32);
        using var y = x.add(RandomVideo(4, t: 2, h: 32, w: 32).mul(0.3)).clamp(-1, 1);
        double s = VideoMetrics.Ssim(x, y);
        Assert.InRange(s, 0.0, 0.99);
        Assert.Equal(s, VideoMetrics.Ssim(y, x), 10);
    }

    [Fact]
    public void SsimOfConstantShiftMatchesClosedForm()
    {
        // Constant frames a, b on [0, 1]: σ terms vanish, SSIM = (2ab + C1) / (a² + b² + C1).
        using var x = torch.full([1, 3, 1, 16, 16], 0.0);      // 0.5 on [0, 1]
        using var y = torch.full([1, 3, 1, 16, 16], 0.2);      // 0.6 on [0, 1]
        double c1 = 1e-4, a = 0.5, b = 0.6;
        Assert.Equal((2 * a * b + c1) / (a * a + b * b + c1), VideoMetrics.Ssim(x, y), 9);
    }

    [Fact]
    public void RejectsMismatchedShapesAndTinyFrames()
    {
        using var x = torch.zeros([1, 3, 1, 16, 16]);
        using var y = torch.zeros([1, 3, 1, 16, 8]);
        Assert.Throws<ArgumentException>(() => VideoMetrics.Psnr(x, y));
        using var tiny = torch.zeros([1, 3, 1, 8, 8]);
        Assert.Throws<ArgumentException>(() => VideoMetrics.Ssim(tiny, tiny));
    }
}
