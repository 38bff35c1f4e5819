using WfVae.Pipeline;
using WfVae.Tests.Video;

namespace WfVae.Tests.Pipeline;

/// <summary>A reconstruction report gets the run's per-frame PSNR and sampled frames; when it fails, the run's video and strip go too.</summary>
public sealed class ReconstructionReportTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("wfvae-report");
    private static WfVaeModel Model => MLNet.MLNetTestData.TinyModel;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string Clip()
    {
        string clip = Path.Combine(_dir, "clip.mkv");
        Ffmpeg.Generate(clip, ["-f", "lavfi", "-i", "testsrc2=s=16x16:r=8", "-frames:v", "9", "-c:v", "libx264rgb", "-crf", "0", "-pix_fmt", "rgb24"]);
        return clip;
    }

    [Fact]
    public void The_report_sees_the_metrics_and_frames_and_its_failure_removes_every_output()
    {
        string clip = Clip();
        ReconstructionResult? seen = null;
        IReadOnlyList<SampledFrame>? frames = null;
        var pipeline = new VideoPipeline(Model);
        var result = pipeline.Reconstruct(new VideoSource { Path = clip }, Path.Combine(_dir, "a/out.mp4"), report: new ReconstructionReport(Path.Combine(_dir, "b/report.bin"),
            (path, r, f) => { seen = r; frames = f; File.WriteAllText(path, "report"); }));
        Assert.Same(result, seen);
        Assert.Equal(9, result.PsnrPerFrame.Length);
        Assert.Equal(0, frames![0].Index);
        Assert.Equal(8, frames[^1].Index);
        Assert.All(frames, f => Assert.Equal(16 * 16 * 3, f.Source.Length));
        Assert.True(File.Exists(Path.Combine(_dir, "b/report.bin")));

        string mp4 = Path.Combine(_dir, "c/out.mp4"), strip = Path.Combine(_dir, "c/strip.png");
        var e = Assert.Throws<IOException>(() => pipeline.Reconstruct(new VideoSource { Path = clip }, mp4, stripPath: strip,
            report: new ReconstructionReport(Path.Combine(_dir, "c/report.png"), (_, _, _) => throw new IOException("disk full"))));
        Assert.Equal("disk full", e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(_dir, "c")));
    }
}
