using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using TorchSharp;
using WfVae.Video;
using static TorchSharp.torch;

namespace WfVae.Tests.MLNet;

/// <summary>
/// Small generated videos (ffmpeg lavfi, lossless) and the tiny fixture model, made once per test process and shared by the
/// ML.NET tests; the folder is deleted when the process exits.
/// </summary>
internal static class MLNetTestData
{
    private static readonly Lazy<string> LazyDir = new(Create);
    private static readonly Lazy<WfVaeModel> LazyModel = new(() => WfVaeModel.Load(TestPaths.TinyModelDir));

    public static string Dir => LazyDir.Value;

    /// <summary>The tiny fixture model, for reference computations (never disposed; shared).</summary>
    public static WfVaeModel TinyModel => LazyModel.Value;

    public static string ModelDir => TestPaths.TinyModelDir;

    /// <summary>testsrc2 48x40, 17 frames (resized to 32x32 by the tests).</summary>
    public static string Testsrc => Path.Combine(Dir, "testsrc 48x40.mkv");

    /// <summary>mandelbrot 32x32, 9 frames.</summary>
    public static string Mandelbrot => Path.Combine(Dir, "mandelbrot.mkv");

    /// <summary>A red box moving right on grey, 32x32, 9 frames.</summary>
    public static string Box => Path.Combine(Dir, "box.mkv");

    /// <summary>testsrc2 32x32 with 10 frames (not 1 + 4k).</summary>
    public static string TenFrames => Path.Combine(Dir, "ten frames.mkv");

    /// <summary>A text file named like a video.</summary>
    public static string NotAVideo => Path.Combine(Dir, "not a video.mp4");

    /// <summary>A path that does not exist.</summary>
    public static string Missing => Path.Combine(Dir, "missing.mkv");

    private static string Create()
    {
        string dir = Directory.CreateTempSubdirectory("wfvae-mlnet-tests-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        };
        Parallel.Invoke(
            () => Generate(Path.Combine(dir, "testsrc 48x40.mkv"), "testsrc2=s=48x40:r=8", 17),
            () => Generate(Path.Combine(dir, "mandelbrot.mkv"), "mandelbrot=s=32x32:r=8", 9),
            () => GenerateBox(Path.Combine(dir, "box.mkv"), "red", 32, x0: 2, y0: 10, vx: 2, vy: 0, frames: 9),
            () => Generate(Path.Combine(dir, "ten frames.mkv"), "testsrc2=s=32x32:r=8", 10));
        File.WriteAllText(Path.Combine(dir, "not a video.mp4"), "this is not a video\n");
        return dir;
    }

    public static void Generate(string file, string source, int frames) =>
        Ffmpeg(["-f", "lavfi", "-i", source, "-frames:v", frames.ToString(CultureInfo.InvariantCulture), "-c:v", "ffv1", "-pix_fmt", "bgr0", "file:" + file]);

    /// <summary>An 8x8 box of <paramref name="colour"/> moving by (vx, vy) pixels per frame on a grey background.</summary>
    public static void GenerateBox(string file, string colour, int size, int x0, int y0, int vx, int vy, int frames)
    {
        string graph = FormattableString.Invariant(
            $"color=c=gray:s={size}x{size}:r=8:d=4[bg];color=c={colour}:s=8x8:r=8[fg];[bg][fg]overlay=x={x0}+n*{vx}:y={y0}+n*{vy}:shortest=1");
        Ffmpeg(["-f", "lavfi", "-i", graph, "-frames:v", frames.ToString(CultureInfo.InvariantCulture), "-c:v", "ffv1", "-pix_fmt", "bgr0", "file:" + file]);
    }

    private static void Ffmpeg(IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo("ffmpeg") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in (string[])["-hide_banner", "-nostdin", "-loglevel", "error", "-y", .. args]) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"ffmpeg {string.Join(' ', psi.ArgumentList)} failed: {err}");
    }

    /// <summary>The frames the stage reads, as (1, 3, T, H, W) through the one frames ↔ tensor bridge.</summary>
    public static Tensor ReadVideo(string file, int? width = null, int? height = null, int? maxFrames = null, TimeSpan? start = null, int frameStep = 1)
    {
        var clip = VideoReader.ReadAllRgb24(file, new VideoReadOptions { Width = width, Height = height, MaxFrames = maxFrames, Start = start, FrameStep = frameStep });
        return FrameTensors.FromRgb24(clip.Frames, clip.Height, clip.Width);
    }

    public static float[] Flat(Tensor t)
    {
        using var c = t.detach().to(ScalarType.Float32, CPU).contiguous();
        return c.data<float>().ToArray();
    }

    public static double MaxAbsDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        double m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs((double)a[i] - b[i]));
        return m;
    }

    public static void AssertClose(float[] expected, float[] actual, double tol, string what)
    {
        double d = MaxAbsDiff(expected, actual);
        Assert.True(d <= tol, $"{what}: max abs diff {d:E3} exceeds {tol:E1}");
    }

    /// <summary>All values of several Single vector columns, read in one pass (one model run per row): [column][row].</summary>
    public static List<float[]>[] Columns(IDataView view, params string[] names)
    {
        var cols = names.Select(n => view.Schema[n]).ToArray();
        var result = names.Select(_ => new List<float[]>()).ToArray();
        using var cursor = view.GetRowCursor(cols);
        var getters = cols.Select(c => cursor.GetGetter<VBuffer<float>>(c)).ToArray();
        VBuffer<float> v = default;
        while (cursor.MoveNext())
            for (int i = 0; i < getters.Length; i++)
            {
                getters[i](ref v);
                result[i].Add(v.DenseValues().ToArray());
            }
        return result;
    }

    /// <summary>All values of a Single vector column, row by row.</summary>
    public static List<float[]> Column(IDataView view, string name) =>
        view.GetColumn<VBuffer<float>>(name).Select(v => v.DenseValues().ToArray()).ToList();

    /// <summary>A data view with one string column of paths.</summary>
    public static IDataView Paths(MLContext ml, params string[] paths) =>
        ml.Data.LoadFromEnumerable(paths.Select(p => new PathRow { Video = p }));

    public sealed class PathRow
    {
        public string Video { get; set; } = "";
    }

    /// <summary>PSNR in dB of two videos in [-1, 1] (clamped), peak-to-peak 2.</summary>
    public static double Psnr(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double se = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double d = Math.Clamp(a[i], -1f, 1f) - Math.Clamp(b[i], -1f, 1f);
            se += d * d;
        }
        double mse = se / a.Length;
        return mse == 0 ? double.PositiveInfinity : 10 * Math.Log10(4.0 / mse);
    }
}
