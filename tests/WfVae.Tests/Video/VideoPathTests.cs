using WfVae.Video;

namespace WfVae.Tests.Video;

[Collection("Video")]
public sealed class VideoPathTests(VideoFixture fx)
{
    [Fact]
    public void WeirdPathNames_AreNeverInterpretedByAShell()
    {
        string dir = Path.Combine(fx.Dir, "we ird 'sq' \"dq\" $HOME ;x & y `id` $(touch pwned-dir)");
        Directory.CreateDirectory(dir);
        string src = Path.Combine(dir, "-v i'd\"e$o;x&y:z $(touch pwned) `touch pwned2` %d.mkv");
        File.Copy(fx.Testsrc, src);
        string cwd = Directory.GetCurrentDirectory();

        VideoInfo info = VideoReader.Probe(src);
        Assert.Equal(src, info.Path);
        Assert.Equal(33, info.FrameCount);
        Assert.Equal(fx.Decoded(fx.Testsrc, 64, 48), VideoReader.ReadFramesRgb24(src).ToList());
        var clip = VideoReader.ReadAllRgb24(src, new VideoReadOptions { MaxFrames = 4 });
        string mp4 = Path.Combine(dir, "o u't\"$x;&|<>* $(touch pwned3).mp4");
        VideoWriter.WriteMp4(mp4, clip.Frames, clip.Height, clip.Width);
        Assert.Equal(4, VideoReader.Probe(mp4).FrameCount);
        string png = Path.Combine(dir, "s t$r;i&p'\".png");
        VideoWriter.WriteFrameStripPng(png, clip.Frames, clip.Height, clip.Width);
        Assert.True(new FileInfo(png).Length > 100);

        // Exactly our three files, nothing created by accident, in the folder or the working directory.
        Assert.Equal(new[] { src, mp4, png }.Order(), Directory.GetFileSystemEntries(dir).Order());
        Assert.Empty(Directory.GetFileSystemEntries(cwd, "pwned*"));
        Assert.Empty(Directory.GetFileSystemEntries(fx.Dir, "pwned*"));
    }

    [Fact]
    public void RelativePath_IsResolvedAgainstTheWorkingDirectory()
    {
        string relative = Path.GetRelativePath(Directory.GetCurrentDirectory(), fx.MovingBox);
        VideoInfo info = VideoReader.Probe(relative);
        Assert.Equal(Path.GetFullPath(fx.MovingBox), info.Path);
        Assert.Equal(32, VideoReader.ReadFramesRgb24(relative).Count());
    }
}
