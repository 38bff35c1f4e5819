using System.Diagnostics;

namespace WfVae.Tests.Video;

/// <summary>All video tests share one fixture and run one after another (they start ffmpeg processes).</summary>
[CollectionDefinition("Video")]
public sealed class VideoCollection : ICollectionFixture<VideoFixture>;

/// <summary>Small generated test videos in a temp folder, deleted at the end of the collection.</summary>
public sealed class VideoFixture : IDisposable
{
    public VideoFixture()
    {
        Dir = Directory.CreateTempSubdirectory("wfvae-video-tests-").FullName;

        // testsrc2, 64x48, 8 fps, 33 frames, lossless RGB H.264 in mkv (mkv has no nb_frames: the probe counts packets).
        Testsrc = Path.Combine(Dir, "testsrc.mkv");
        Ffmpeg.Generate(Testsrc, ["-f", "lavfi", "-i", "testsrc2=s=64x48:r=8", "-frames:v", "33", "-c:v", "libx264rgb", "-crf", "0", "-pix_fmt", "rgb24"]);

        // mandelbrot, 32x32, 8 fps, 10 frames, ordinary lossy yuv420p H.264 mp4 (has nb_frames).
        Mandelbrot = Path.Combine(Dir, "mandelbrot.mp4");
        Ffmpeg.Generate(Mandelbrot, ["-f", "lavfi", "-i", "mandelbrot=s=32x32:r=8", "-frames:v", "10", "-c:v", "libx264", "-pix_fmt", "yuv420p"]);

        // A white 8x8 box on black moving right by 2 px per frame (x = 2t at row 8..15), 64x64, 8 fps, 32 frames, lossless ffv1.
        MovingBox = Path.Combine(Dir, "box.mkv");
        Ffmpeg.Generate(MovingBox,
        [
            "-f", "lavfi", "-i", "color=c=black:s=64x64:r=8:d=4[bg];color=c=white:s=8x8:r=8[fg];[bg][fg]overlay=x=t*16:y=8:shortest=1",
            "-frames:v", "32", "-c:v", "ffv1", "-pix_fmt", "bgr0",
        ]);

        // 64x32 bands: red x<16, green 16<=x<48, blue x>=48; 4 frames, lossless.
        Bands = Path.Combine(Dir, "bands.mkv");
        Ffmpeg.Generate(Bands,
        [
            "-f", "lavfi", "-i", "color=c=0x00FF00:s=64x32:r=8:d=0.5,drawbox=x=0:y=0:w=16:h=32:color=0xFF0000:t=fill,drawbox=x=48:y=0:w=16:h=32:color=0x0000FF:t=fill",
            "-frames:v", "4", "-c:v", "ffv1", "-pix_fmt", "bgr0",
        ]);
    }

    public string Dir { get; }

    public string Testsrc { get; }

    public string Mandelbrot { get; }

    public string MovingBox { get; }

    public string Bands { get; }

    /// <summary>ffmpeg's own rgb24 decode of one of the fixture videos (cached; do not modify the arrays).</summary>
    public List<byte[]> Decoded(string file, int width, int height)
    {
        lock (_decoded)
        {
            if (!_decoded.TryGetValue(file, out var frames))
                _decoded[file] = frames = Ffmpeg.DecodeRgb(file, width, height);
            return frames;
        }
    }

    private readonly Dictionary<string, List<byte[]>> _decoded = new(StringComparer.Ordinal);

    /// <summary>A fresh empty sub-folder for one test.</summary>
    public string NewDir(string name = "case")
    {
        string d = Path.Combine(Dir, name + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(d);
        return d;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Runs the system ffmpeg directly (no shell) to make and decode reference data.</summary>
public static class Ffmpeg
{
    public static byte[] Run(IEnumerable<string> args, string tool = "ffmpeg")
    {
        var psi = new ProcessStartInfo(tool)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        using var ms = new MemoryStream();
        p.StandardOutput.BaseStream.CopyTo(ms);
        p.WaitForExit();
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"{tool} {string.Join(' ', psi.ArgumentList)} failed: {err.Result}");
        return ms.ToArray();
    }

    public static void Generate(string output, string[] args) =>
        Run(["-hide_banner", "-nostdin", "-loglevel", "error", "-y", .. args, "file:" + output]);

    /// <summary>ffmpeg's own rgb24 decode of the whole file, split into frames.</summary>
    public static List<byte[]> DecodeRgb(string file, int width, int height)
    {
        byte[] all = Run(["-hide_banner", "-nostdin", "-loglevel", "error", "-i", "file:" + file, "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]);
        int fs = width * height * 3;
        Assert.Equal(0, all.Length % fs);
        return Enumerable.Range(0, all.Length / fs).Select(i => all.AsSpan(i * fs, fs).ToArray()).ToList();
    }

    public static int MaxAbsDiff(byte[] a, byte[] b)
    {
        Assert.Equal(a.Length, b.Length);
        int m = 0;
        for (int i = 0; i < a.Length; i++)
            m = Math.Max(m, Math.Abs(a[i] - b[i]));
        return m;
    }

    public static double Psnr(IReadOnlyList<byte[]> a, IReadOnlyList<byte[]> b)
    {
        Assert.Equal(a.Count, b.Count);
        double se = 0;
        long n = 0;
        for (int f = 0; f < a.Count; f++)
        {
            Assert.Equal(a[f].Length, b[f].Length);
            for (int i = 0; i < a[f].Length; i++)
            {
                double d = a[f][i] - b[f][i];
                se += d * d;
            }
            n += a[f].Length;
        }
        double mse = se / n;
        return mse == 0 ? double.PositiveInfinity : 10 * Math.Log10(255.0 * 255.0 / mse);
    }

    /// <summary>Ids of the running processes (Linux /proc) whose command line names <paramref name="file"/>, e.g. the ffmpeg decoding it.</summary>
    public static List<int> ProcessesNaming(string file)
    {
        var pids = new List<int>();
        foreach (string dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid) || pid == Environment.ProcessId)
                continue;
            try
            {
                if (File.ReadAllText(Path.Combine(dir, "cmdline")).Contains(file, StringComparison.Ordinal))
                    pids.Add(pid);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { } // exited meanwhile
        }
        return pids;
    }

    /// <summary>Whether process <paramref name="pid"/> still exists (running or as an unreaped zombie).</summary>
    public static bool ProcessExists(int pid) => OperatingSystem.IsLinux()
        ? Directory.Exists($"/proc/{pid}")
        : Process.GetProcesses().Any(p => p.Id == pid);
}
