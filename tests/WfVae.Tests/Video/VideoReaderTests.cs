using System.Diagnostics;
using WfVae.Video;

namespace WfVae.Tests.Video;

[Collection("Video")]
public sealed class VideoReaderTests(VideoFixture fx)
{
    [Theory]
    [InlineData("testsrc", 64, 48)]
    [InlineData("mandelbrot", 32, 32)]
    [InlineData("box", 64, 64)]
    public void ReadFramesRgb24_NativeSize_EqualsFfmpegDecode(string which, int w, int h)
    {
        string file = which switch { "testsrc" => fx.Testsrc, "mandelbrot" => fx.Mandelbrot, _ => fx.MovingBox };
        List<byte[]> expected = fx.Decoded(file, w, h);
        List<byte[]> got = VideoReader.ReadFramesRgb24(file).ToList();
        Assert.Equal(expected.Count, got.Count);
        for (int i = 0; i < got.Count; i++)
            Assert.InRange(Ffmpeg.MaxAbsDiff(expected[i], got[i]), 0, 1);
    }

    [Fact]
    public void ReadFramesRgb24_MovingBox_HasKnownMotion()
    {
        var frames = VideoReader.ReadFramesRgb24(fx.MovingBox).ToList();
        Assert.Equal(32, frames.Count);
        for (int t = 0; t < frames.Count; t++)
        {
            for (int x = 0; x < 64; x++)
            {
                bool inBox = x >= 2 * t && x < 2 * t + 8;
                byte r = frames[t][(12 * 64 + x) * 3];
                Assert.True(inBox ? r > 250 : r < 5, $"frame {t}, x {x}: red {r}, box expected: {inBox}");
                Assert.True(frames[t][(30 * 64 + x) * 3 + 1] < 5, "row 30 is background");
            }
        }
    }

    [Theory]
    [InlineData(40, null, 40, 48)]
    [InlineData(null, 24, 64, 24)]
    [InlineData(17, 13, 17, 13)]
    [InlineData(96, 80, 96, 80)]
    public void ReadFramesRgb24_ResizeAndCentreCrop_GivesExactSize(int? width, int? height, int expectW, int expectH)
    {
        var opts = new VideoReadOptions { Width = width, Height = height, MaxFrames = 3 };
        var frames = VideoReader.ReadFramesRgb24(fx.Testsrc, opts).ToList();
        Assert.Equal(3, frames.Count);
        Assert.All(frames, f => Assert.Equal(expectW * expectH * 3, f.Length));
    }

    [Theory]
    [InlineData(32, 32)] // 64x32 covers 32x32 at scale 1: crop keeps x 16..47 (green only)
    [InlineData(16, 16)] // scaled to 32x16, crop keeps the green middle
    public void ReadFramesRgb24_CoverCrop_KeepsTheCentre(int width, int height)
    {
        var frames = VideoReader.ReadFramesRgb24(fx.Bands, new VideoReadOptions { Width = width, Height = height }).ToList();
        Assert.Equal(4, frames.Count);
        foreach (byte[] f in frames)
        {
            for (int y = 0; y < height; y++)
            {
                for (int x = 1; x < width - 1; x++) // edge columns may blend with the cropped-off bands when scaling
                {
                    int o = (y * width + x) * 3;
                    Assert.True(f[o] < 16 && f[o + 1] > 239 && f[o + 2] < 16, $"({x},{y}) = {f[o]},{f[o + 1]},{f[o + 2]} is not green");
                }
            }
        }
    }

    [Fact]
    public void ReadFramesRgb24_WideTarget_CropsVerticallyNotSquashing()
    {
        // 64x32 into 64x16: scale stays 1, crop keeps rows 8..23; the red and blue bands stay at the sides.
        byte[] f = VideoReader.ReadFramesRgb24(fx.Bands, new VideoReadOptions { Width = 64, Height = 16, MaxFrames = 1 }).Single();
        Assert.Equal(64 * 16 * 3, f.Length);
        Assert.True(f[(8 * 64 + 4) * 3] > 239 && f[(8 * 64 + 4) * 3 + 1] < 16, "left band is red");
        Assert.True(f[(8 * 64 + 32) * 3 + 1] > 239, "middle is green");
        Assert.True(f[(8 * 64 + 60) * 3 + 2] > 239 && f[(8 * 64 + 60) * 3] < 16, "right band is blue");
    }

    [Theory]
    [InlineData(3)]
    [InlineData(40)]
    public void ReadFramesRgb24_FrameStep_KeepsEveryNthFrame(int step)
    {
        var reference = fx.Decoded(fx.MovingBox, 64, 64);
        var got = VideoReader.ReadFramesRgb24(fx.MovingBox, new VideoReadOptions { FrameStep = step }).ToList();
        var expected = reference.Where((_, i) => i % step == 0).ToList();
        Assert.Equal(expected.Count, got.Count);
        for (int i = 0; i < got.Count; i++)
            Assert.Equal(expected[i], got[i]);
    }

    [Fact]
    public void ReadFramesRgb24_Start_SkipsToThatTime()
    {
        var reference = fx.Decoded(fx.MovingBox, 64, 64);
        var got = VideoReader.ReadFramesRgb24(fx.MovingBox, new VideoReadOptions { Start = TimeSpan.FromSeconds(1) }).ToList();
        Assert.Equal(reference.Count - 8, got.Count); // 8 fps: 1 s = frame 8
        Assert.Equal(reference[8], got[0]);
        Assert.Equal(reference[^1], got[^1]);
    }

    [Fact]
    public void ReadFramesRgb24_MaxFrames_StopsEarly()
    {
        var reference = fx.Decoded(fx.MovingBox, 64, 64);
        var got = VideoReader.ReadFramesRgb24(fx.MovingBox, new VideoReadOptions { MaxFrames = 5 }).ToList();
        Assert.Equal(reference.Take(5), got);
    }

    [Fact]
    public void ReadFramesRgb24_StartStepAndMaxFrames_Combine()
    {
        var reference = fx.Decoded(fx.MovingBox, 64, 64);
        var opts = new VideoReadOptions { Start = TimeSpan.FromSeconds(1), FrameStep = 2, MaxFrames = 4 };
        var got = VideoReader.ReadFramesRgb24(fx.MovingBox, opts).ToList();
        Assert.Equal(new[] { reference[8], reference[10], reference[12], reference[14] }, got);
    }

    [Fact]
    public void ReadAllRgb24_WithOptions_ResizesAndLimits()
    {
        var clip = VideoReader.ReadAllRgb24(fx.Testsrc, new VideoReadOptions { Width = 16, Height = 16, MaxFrames = 7 });
        Assert.Equal((7, 16, 16), (clip.Frames.Count, clip.Height, clip.Width));
        Assert.All(clip.Frames, f => Assert.Equal(16 * 16 * 3, f.Length));
    }

    [Fact]
    public void ReadAllRgb24_MatchesTheFrameStream()
    {
        var opts = new VideoReadOptions { MaxFrames = 9 };
        var clip = VideoReader.ReadAllRgb24(fx.Testsrc, opts);
        Assert.Equal((9, 48, 64), (clip.Frames.Count, clip.Height, clip.Width));
        Assert.Equal(VideoReader.ReadFramesRgb24(fx.Testsrc, opts).ToList(), clip.Frames);
    }

    [Theory]
    [InlineData("Width")]
    [InlineData("Height")]
    [InlineData("FrameStep")]
    [InlineData("Start")]
    [InlineData("MaxFrames")]
    public void Options_InvalidValue_ThrowsNamingFieldAndRange(string field)
    {
        var opts = field switch
        {
            "Width" => new VideoReadOptions { Width = 0 },
            "Height" => new VideoReadOptions { Height = VideoReadOptions.MaxDimension + 1 },
            "FrameStep" => new VideoReadOptions { FrameStep = 0 },
            "Start" => new VideoReadOptions { Start = TimeSpan.FromSeconds(-1) },
            _ => new VideoReadOptions { MaxFrames = -3 },
        };
        // Thrown at the call, before any enumeration or file access.
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => VideoReader.ReadFramesRgb24("/nonexistent.mp4", opts));
        Assert.Equal(field, ex.ParamName);
        Assert.Contains("VideoReadOptions." + field, ex.Message);
        Assert.Matches(@"\[|>=", ex.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => VideoReader.ReadAllRgb24(fx.Testsrc, opts));
    }

    [Fact]
    public void EarlyDispose_KillsFfmpegAndReturnsQuickly()
    {
        if (!OperatingSystem.IsLinux())
            return; // finds the decoder through /proc
        string longClip = MakeLongClip();
        List<int> pids;
        var sw = Stopwatch.StartNew();
        using (var e = VideoReader.ReadFramesRgb24(longClip).GetEnumerator())
        {
            Assert.True(e.MoveNext());
            Assert.True(e.MoveNext());
            Assert.Equal(64 * 64 * 3, e.Current.Length);
            pids = Ffmpeg.ProcessesNaming(longClip); // the ffmpeg decoding it, mid-stream
            sw.Restart();
        }
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(3), $"dispose took {sw.Elapsed}");
        Assert.NotEmpty(pids);
        Assert.All(pids, pid => Assert.False(Ffmpeg.ProcessExists(pid), $"process {pid} is still there (running or zombie)"));
    }

    [Fact]
    public void Cancellation_KillsFfmpegAndThrows()
    {
        if (!OperatingSystem.IsLinux())
            return; // finds the decoder through /proc
        string longClip = MakeLongClip();
        var pids = new List<int>();
        using var cts = new CancellationTokenSource();
        int seen = 0;
        Assert.ThrowsAny<OperationCanceledException>(() =>
        {
            foreach (var frame in VideoReader.ReadFramesRgb24(longClip, ct: cts.Token))
            {
                if (++seen == 2)
                {
                    pids = Ffmpeg.ProcessesNaming(longClip);
                    cts.Cancel();
                }
            }
        });
        Assert.Equal(2, seen);
        Assert.NotEmpty(pids);
        Assert.All(pids, pid => Assert.False(Ffmpeg.ProcessExists(pid), $"process {pid} is still there"));
    }

    private string MakeLongClip()
    {
        string file = Path.Combine(fx.Dir, "long.mp4");
        lock (typeof(VideoReaderTests))
        {
            if (!File.Exists(file))
            {
                string tmp = Path.Combine(fx.Dir, "long.tmp.mp4");
                // 500 frames of 12 KiB: far more than the pipe can buffer, so ffmpeg is mid-stream when we stop.
                Ffmpeg.Generate(tmp, ["-f", "lavfi", "-i", "testsrc2=s=64x64:r=25", "-frames:v", "500", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]);
                File.Move(tmp, file);
            }
        }
        return file;
    }
}
