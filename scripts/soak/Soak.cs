// Soak of issue 15: model loads and rows through WfVaeEncode / WfVaeDecode, reporting live tensors and RSS after warm-up.
// Run with scripts/soak.sh LOADS ROWS PATH_ROWS (defaults 600 1000 100); the CI test SoakTests runs small counts.
using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using TorchSharp;
using WfVae;
using WfVae.MLNet;

int loads = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 600;
int rows = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 1000;
int pathRows = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 100;
string modelDir = args[0];
var failures = new List<string>();

static long RssKiB() =>
    long.Parse(File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);

static long LiveTensors()
{
    GC.Collect();
    GC.WaitForPendingFinalizers();
    GC.Collect();
    return torch.Tensor.TotalCount;
}

void Phase(string name, int warmup, int count, Action<int> step)
{
    var sw = Stopwatch.StartNew();
    step(warmup);
    long t0 = LiveTensors(), r0 = RssKiB(), h0 = GC.GetTotalMemory(true);
    step(count);
    long t1 = LiveTensors(), r1 = RssKiB(), h1 = GC.GetTotalMemory(true);
    double growth = 100.0 * (r1 - r0) / r0;
    Console.WriteLine(FormattableString.Invariant($"{name,-28} n={count,5}  live tensors {t0} -> {t1}  RSS {r0 / 1024.0:F1} -> {r1 / 1024.0:F1} MiB ({growth:+0.00;-0.00}%)  managed heap {h0 / 1048576.0:F1} -> {h1 / 1048576.0:F1} MiB  {sw.Elapsed.TotalSeconds:F1} s"));
    if (t1 > t0) failures.Add($"{name}: live tensors grew by {t1 - t0}");
    if (growth >= 5) failures.Add($"{name}: RSS grew {growth:F1}% after warm-up");
}

Phase("WfVaeModel.Load+Dispose", 20, loads, n =>
{
    for (int i = 0; i < n; i++) WfVaeModel.Load(modelDir).Dispose();
});

var ml = new MLContext(seed: 1);
var config = WfVaeConfig.Load(Path.Combine(modelDir, WfVaeModel.ConfigFileName));
int side = 2 * config.ShapeRules.SpatialFactor, frames = 1 + config.ShapeRules.TemporalFactor;
var rng = new Random(5);
var videos = Enumerable.Range(0, 64).Select(_ => new VideoRow { Video = [.. Enumerable.Range(0, 3 * frames * side * side).Select(_ => (float)(rng.NextDouble() * 2 - 1))] }).ToArray();
var encode = new WfVaeEncoderOptions { OutputColumnName = "Latent", InputColumnName = "Video", ModelDirectory = modelDir, Height = side, Width = side };
var decode = new WfVaeDecoderOptions { OutputColumnName = "Decoded", InputColumnName = "Latent", ModelDirectory = modelDir, LatentHeight = 2, LatentWidth = 2 };
using var encoder = ml.Transforms.WfVaeEncode(encode).Fit(ml.Data.LoadFromEnumerable(videos));
using var decoder = ml.Transforms.WfVaeDecode(decode).Fit(encoder.Transform(ml.Data.LoadFromEnumerable(videos)));

void Rows(ITransformer stage, IEnumerable<object> source, int n, string column)
{
    var view = stage.Transform(source switch
    {
        IEnumerable<VideoRow> v => ml.Data.LoadFromEnumerable(v.Take(n)),
        _ => ml.Data.LoadFromEnumerable(source.Cast<PathRow>().Take(n)),
    });
    int seen = view.GetColumn<VBuffer<float>>(column).Count();
    if (seen != n) throw new InvalidOperationException($"{column}: {seen} rows, expected {n}");
}
IEnumerable<VideoRow> Cycle() { while (true) foreach (var v in videos) yield return v; }

Phase("WfVaeEncode vector rows", 50, rows, n => Rows(encoder, Cycle(), n, "Latent"));
var latents = encoder.Transform(ml.Data.LoadFromEnumerable(videos)).GetColumn<VBuffer<float>>("Latent")
    .Select(v => new LatentRow { Latent = v.DenseValues().ToArray() }).ToArray();
Phase("WfVaeDecode rows", 50, rows, n =>
{
    var data = ml.Data.LoadFromEnumerable(Enumerable.Range(0, n).Select(i => latents[i % latents.Length]));
    int seen = decoder.Transform(data).GetColumn<VBuffer<float>>("Decoded").Count();
    if (seen != n) throw new InvalidOperationException($"Decoded: {seen} rows, expected {n}");
});

string clip = Path.Combine(Path.GetTempPath(), $"wfvae-soak-{Environment.ProcessId}.mkv");
var ffmpeg = Process.Start(new ProcessStartInfo("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", $"testsrc2=s={side}x{side}:r=8", "-frames:v", frames.ToString(CultureInfo.InvariantCulture), "-c:v", "ffv1", "file:" + clip]))!;
ffmpeg.WaitForExit();
try
{
    using var pathEncoder = ml.Transforms.WfVaeEncode(encode with { InputColumnName = "Path", MaxFrames = frames }).Fit(ml.Data.LoadFromEnumerable(new[] { new PathRow { Path = clip } }));
    Phase("WfVaeEncode path rows", 10, pathRows, n => Rows(pathEncoder, Enumerable.Repeat(new PathRow { Path = clip }, n), n, "Latent"));
}
finally
{
    File.Delete(clip);
}

foreach (var f in failures) Console.WriteLine("FAIL " + f);
return failures.Count == 0 ? 0 : 1;

sealed class VideoRow
{
    public float[] Video { get; set; } = [];
}

sealed class LatentRow
{
    [VectorType]
    public float[] Latent { get; set; } = [];
}

sealed class PathRow
{
    public string Path { get; set; } = "";
}
