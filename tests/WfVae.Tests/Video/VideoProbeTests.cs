using WfVae.Video;

namespace WfVae.Tests.Video;

[Collection("Video")]
public sealed class VideoProbeTests(VideoFixture fx)
{
    [Fact]
    public void Probe_LosslessMkv_ReportsSizeRateFramesDuration()
    {
        VideoInfo info = VideoReader.Probe(fx.Testsrc);
        Assert.Equal(Path.GetFullPath(fx.Testsrc), info.Path);
        Assert.Equal(64, info.Width);
        Assert.Equal(48, info.Height);
        Assert.Equal(8.0, info.FrameRate, 6);
        Assert.Equal(33, info.FrameCount); // mkv has no nb_frames: counted packets
        Assert.InRange(info.Duration.TotalSeconds, 4.0, 4.2);
    }

    [Fact]
    public void Probe_Mp4_UsesNbFrames()
    {
        VideoInfo info = VideoReader.Probe(fx.Mandelbrot);
        Assert.Equal((32, 32, 10), (info.Width, info.Height, info.FrameCount));
        Assert.Equal(8.0, info.FrameRate, 6);
        Assert.InRange(info.Duration.TotalSeconds, 1.2, 1.3);
    }

    [Fact]
    public void Probe_FfmpegFrameCountAgreesWithDecodedFrames()
    {
        VideoInfo info = VideoReader.Probe(fx.MovingBox);
        Assert.Equal(fx.Decoded(fx.MovingBox, 64, 64).Count, info.FrameCount);
    }

    [Fact]
    public void Probe_RotatedVideo_ReportsDisplayedSizeLikeTheDecoder()
    {
        string plain = Path.Combine(fx.Dir, "rotation-source.mp4");
        string rotated = Path.Combine(fx.Dir, "rotated-90.mp4");
        Ffmpeg.Generate(plain, ["-f", "lavfi", "-i", "testsrc2=s=64x48:r=8", "-frames:v", "5", "-c:v", "libx264", "-pix_fmt", "yuv420p"]);
        Ffmpeg.Generate(rotated, ["-i", "file:" + plain, "-c", "copy", "-metadata:s:v:0", "rotate=90"]);

        VideoInfo info = VideoReader.Probe(rotated);
        Assert.Equal((48, 64), (info.Width, info.Height));
        var frames = VideoReader.ReadFramesRgb24(rotated).ToList();
        Assert.Equal(Ffmpeg.DecodeRgb(rotated, 48, 64), frames);
    }

    [Fact]
    public void GetOutputSize_UsesSourceSizeForMissingSide()
    {
        VideoInfo info = VideoReader.Probe(fx.Testsrc);
        Assert.Equal((48, 64), VideoReader.GetOutputSize(info));
        Assert.Equal((48, 40), VideoReader.GetOutputSize(info, new VideoReadOptions { Width = 40 }));
        Assert.Equal((20, 64), VideoReader.GetOutputSize(info, new VideoReadOptions { Height = 20 }));
        Assert.Equal((16, 16), VideoReader.GetOutputSize(info, new VideoReadOptions { Width = 16, Height = 16 }));
    }
}
