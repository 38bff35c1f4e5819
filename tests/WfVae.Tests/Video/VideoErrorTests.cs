using FFMpegCore;
using WfVae.Video;

namespace WfVae.Tests.Video;

[Collection("Video")]
public sealed class VideoErrorTests(VideoFixture fx)
{
    public static TheoryData<string> ReadOperations => new() { "Probe", "Frames", "ReadAll" };

    // Reading always probes first, so for errors found by the probe two entry points are enough.
    public static TheoryData<string> ProbeAndRead => new() { "Probe", "ReadAll" };

    private static void Read(string op, string file, VideoReadOptions? options = null)
    {
        switch (op)
        {
            case "Probe": VideoReader.Probe(file, options); break;
            case "Frames": VideoReader.ReadFramesRgb24(file, options).ToList(); break;
            default: VideoReader.ReadAllRgb24(file, options); break;
        }
    }

    private static VideoIOException AssertFails(string op, string file, string expectedText, VideoReadOptions? options = null)
    {
        var ex = Assert.Throws<VideoIOException>(() => Read(op, file, options));
        Assert.Contains(Path.GetFullPath(file), ex.Message);
        Assert.Equal(Path.GetFullPath(file), ex.FilePath);
        Assert.Contains(expectedText, ex.Message, StringComparison.OrdinalIgnoreCase);
        return ex;
    }

    [Theory]
    [MemberData(nameof(ReadOperations))]
    public void MissingFile_Throws(string op) =>
        AssertFails(op, Path.Combine(fx.Dir, "no such file.mp4"), "does not exist");

    [Fact]
    public void Directory_Throws() => AssertFails("Probe", fx.Dir, "directory");

    [Theory]
    [MemberData(nameof(ProbeAndRead))]
    public void TextFile_IsNotAVideo(string op)
    {
        string file = Path.Combine(fx.Dir, "not-a-video.mp4");
        File.WriteAllText(file, "hello, this is not a video\n");
        var ex = AssertFails(op, file, "not a video");
        Assert.Contains("Invalid data", ex.Message); // ffprobe's last stderr line
    }

    [Theory]
    [MemberData(nameof(ProbeAndRead))]
    public void AudioOnly_HasNoVideoStream(string op)
    {
        string file = Path.Combine(fx.Dir, "audio-only.wav");
        if (!File.Exists(file))
            Ffmpeg.Generate(file, ["-f", "lavfi", "-i", "sine=d=0.5"]);
        var ex = AssertFails(op, file, "no video stream");
        Assert.Contains("audio", ex.Message);
    }

    [Fact]
    public void TruncatedMp4WithoutIndex_FailsAtProbe()
    {
        string file = Truncated(fx.Mandelbrot, "trunc-nomoov.mp4", 0.5);
        var ex = AssertFails("Probe", file, "truncated/corrupt");
        Assert.Contains("Invalid data found", ex.Message); // ffprobe's last line (after "moov atom not found")
    }

    [Fact]
    public void TruncatedFaststartMp4_ProbesButFailsToDecode()
    {
        string full = Path.Combine(fx.Dir, "faststart.mp4");
        Ffmpeg.Generate(full, ["-f", "lavfi", "-i", "testsrc2=s=64x48:r=8", "-frames:v", "33", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart"]);
        string file = Truncated(full, "trunc-faststart.mp4", 0.5);
        Assert.Equal(33, VideoReader.Probe(file).FrameCount); // the index is intact
        var ex = AssertFails("Frames", file, "truncated or corrupt");
        Assert.Contains("last ffmpeg message:", ex.Message);
    }

    [Fact]
    public void TruncatedMkv_YieldsFramesThenThrowsWithLastStderrLine()
    {
        string file = Truncated(fx.Testsrc, "trunc.mkv", 0.5);
        int frames = 0;
        var ex = Assert.Throws<VideoIOException>(() =>
        {
            foreach (var _ in VideoReader.ReadFramesRgb24(file))
                frames++;
        });
        Assert.InRange(frames, 1, 32);
        Assert.Contains(file, ex.Message);
        Assert.Contains($"after {frames} frame(s)", ex.Message);
        Assert.Contains("File ended prematurely", ex.Message);
    }

    [Fact]
    public void StartBeyondEnd_ZeroFrames()
    {
        var ex = Assert.Throws<VideoIOException>(() =>
            VideoReader.ReadFramesRgb24(fx.Testsrc, new VideoReadOptions { Start = TimeSpan.FromSeconds(30) }).ToList());
        Assert.Contains(Path.GetFullPath(fx.Testsrc), ex.Message);
        Assert.Contains("zero frames", ex.Message);
    }

    [Fact]
    public void FfmpegMissing_ThrowsWithInstallHint_AndWritesNothing()
    {
        string emptyBin = fx.NewDir("empty-bin");
        string outDir = fx.NewDir("nobin-out");
        string mp4 = Path.Combine(outDir, "out.mp4");
        foreach (string op in new[] { "Probe", "Frames", "ReadAll" })
        {
            var ex = AssertFails(op, fx.Testsrc, "apt-get install ffmpeg", new VideoReadOptions { FfmpegFolder = emptyBin });
            Assert.Contains("PATH", ex.Message);
            Assert.Contains(emptyBin, ex.Message);
        }
        var wex = Assert.Throws<VideoIOException>(() =>
            VideoWriter.WriteMp4(mp4, [new byte[8 * 8 * 3], new byte[8 * 8 * 3]], 8, 8, options: new VideoWriteOptions { FfmpegFolder = emptyBin }));
        Assert.Contains(mp4, wex.Message);
        Assert.Contains("apt-get install ffmpeg", wex.Message);
        Assert.Empty(Directory.GetFileSystemEntries(outDir));
    }

    [Fact]
    public void FfmpegFolder_FromEnvironmentVariableAndGlobalFFOptions_IsHonoured()
    {
        if (!OperatingSystem.IsLinux())
            return;
        // Wrappers that log each call and then run the real tools, so concurrent users of ffmpeg are not disturbed.
        string bin = fx.NewDir("wrapped-bin");
        string log = Path.Combine(bin, "calls.log");
        foreach (string tool in new[] { "ffmpeg", "ffprobe" })
        {
            string real = FfmpegTools.Resolve(tool, "(test)");
            string script = Path.Combine(bin, tool);
            File.WriteAllText(script, $"#!/bin/sh\necho {tool} >> '{log}'\nexec '{real}' \"$@\"\n");
            File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        string? previousEnv = Environment.GetEnvironmentVariable(FfmpegTools.DirectoryEnvVar);
        Environment.SetEnvironmentVariable(FfmpegTools.DirectoryEnvVar, bin);
        try
        {
            Assert.Single(VideoReader.ReadFramesRgb24(fx.Testsrc, new VideoReadOptions { MaxFrames = 1 }));
        }
        finally
        {
            Environment.SetEnvironmentVariable(FfmpegTools.DirectoryEnvVar, previousEnv);
        }
        string[] calls = File.ReadAllLines(log);
        Assert.Equal("ffprobe", calls[0]); // probe first, then ffmpeg (possibly also asked for its version once)
        Assert.Contains("ffmpeg", calls);

        File.Delete(log);
        string previousFolder = GlobalFFOptions.Current.BinaryFolder;
        GlobalFFOptions.Current.BinaryFolder = bin;
        Environment.SetEnvironmentVariable(FfmpegTools.DirectoryEnvVar, null); // the variable would win over GlobalFFOptions
        try
        {
            Assert.Equal(33, VideoReader.Probe(fx.Testsrc).FrameCount);
        }
        finally
        {
            GlobalFFOptions.Current.BinaryFolder = previousFolder;
            Environment.SetEnvironmentVariable(FfmpegTools.DirectoryEnvVar, previousEnv);
        }
        Assert.Contains("ffprobe", File.ReadAllLines(log));
    }

    [Fact]
    public void WriteMp4_MissingOutputFolder_Throws()
    {
        string file = Path.Combine(fx.Dir, "no such folder", "out.mp4");
        var ex = Assert.Throws<VideoIOException>(() => VideoWriter.WriteMp4(file, [new byte[8 * 8 * 3]], 8, 8));
        Assert.Contains(file, ex.Message);
        Assert.Contains("does not exist", ex.Message);
        var pex = Assert.Throws<VideoIOException>(() => VideoWriter.WriteFrameStripPng(Path.ChangeExtension(file, ".png"), [new byte[8 * 8 * 3]], 8, 8));
        Assert.Contains("does not exist", pex.Message);
        Assert.False(Directory.Exists(Path.GetDirectoryName(file)));
    }

    [Fact]
    public void WriteMp4_FailureMidway_LeavesExistingFileAndNoTemp()
    {
        string dir = fx.NewDir("midway");
        string file = Path.Combine(dir, "keep.mp4");
        File.WriteAllText(file, "previous content");

        static IEnumerable<byte[]> Throwing()
        {
            yield return new byte[16 * 16 * 3];
            yield return new byte[16 * 16 * 3];
            throw new InvalidOperationException("source failed");
        }
        Assert.Throws<InvalidOperationException>(() => VideoWriter.WriteMp4(file, Throwing(), 16, 16));

        static IEnumerable<byte[]> WrongSize()
        {
            yield return new byte[16 * 16 * 3];
            yield return new byte[7];
        }
        var ex = Assert.Throws<ArgumentException>(() => VideoWriter.WriteMp4(file, WrongSize(), 16, 16));
        Assert.Contains("Frame 1", ex.Message);

        var zex = Assert.Throws<VideoIOException>(() => VideoWriter.WriteMp4(file, Array.Empty<byte[]>(), 16, 16));
        Assert.Contains(file, zex.Message);
        Assert.Contains("zero frames", zex.Message);

        Assert.Equal("previous content", File.ReadAllText(file));
        Assert.Equal(new[] { file }, Directory.GetFileSystemEntries(dir));

        string fresh = Path.Combine(dir, "fresh.mp4");
        Assert.Throws<InvalidOperationException>(() => VideoWriter.WriteMp4(fresh, Throwing(), 16, 16));
        Assert.False(File.Exists(fresh));
        Assert.Equal(new[] { file }, Directory.GetFileSystemEntries(dir));
    }

    private string Truncated(string source, string name, double fraction)
    {
        byte[] all = File.ReadAllBytes(source);
        string file = Path.Combine(fx.Dir, name);
        File.WriteAllBytes(file, all[..(int)(all.Length * fraction)]);
        return file;
    }
}
