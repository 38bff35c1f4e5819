#:project ../src/WfVae.MLNet/WfVae.MLNet.csproj
#:property PublishAot=false
// WF-VAE in ML.NET, a runnable notebook: `dotnet run notebooks/02-mlnet-pipeline.cs [-- MODEL_DIR]`.
// Builds a DataFrame of generated video paths, encodes them with mlContext.Transforms.WfVaeEncode into latent and
// pooled-feature columns, reads the results back as a DataFrame, and saves + reloads the pipeline.
using System.Diagnostics;
using Microsoft.Data.Analysis;
using Microsoft.ML;
using WfVae;

string modelDir = args.Length > 0 ? args[0] : DefaultModel.Directory ?? throw new InvalidOperationException("no default model; pass a model folder");
string work = Directory.CreateTempSubdirectory("wfvae-notebook-").FullName;

// ## 1. A few short clips: ffmpeg test patterns and a red box moving right
string[] sources = ["testsrc2=size=64x64:rate=8", "mandelbrot=size=64x64:rate=8", "color=c=black:s=64x64:r=8,drawbox=x=4+16*t:y=24:w=16:h=16:color=red:t=fill"];
var paths = new List<string>();
for (int i = 0; i < sources.Length; i++)
{
    string path = Path.Combine(work, $"clip {i}.mp4");   // a space in the name on purpose: paths never go through a shell
    using var ffmpeg = Process.Start(new ProcessStartInfo("ffmpeg", ["-v", "error", "-f", "lavfi", "-i", sources[i], "-frames:v", "9", "-pix_fmt", "yuv444p", "-c:v", "libx264", "-crf", "0", path]))!;
    ffmpeg.WaitForExit();
    if (ffmpeg.ExitCode != 0) throw new InvalidOperationException($"ffmpeg could not generate {sources[i]}");
    paths.Add(path);
}
var frame = new DataFrame(new StringDataFrameColumn("Video", paths));

// ## 2. Encode the path column: latent mean (z, t, h, w) and per-channel mean/std features
var ml = new MLContext(seed: 1);
var pipeline = ml.Transforms.WfVaeEncode("Latent", "Video", modelDir, width: 64, height: 64, maxFrames: 9);
using var model = pipeline.Fit(frame);
var encoded = model.Transform(frame);
Console.WriteLine($"Latent column type: {encoded.Schema["Latent"].Type}");
Console.WriteLine($"Pooled column type: {encoded.Schema["Latent.Pooled"].Type}");

// ## 3. Back to a DataFrame: one row per video
var result = encoded.ToDataFrame();
var pooled = ml.Data.CreateEnumerable<Row>(encoded, reuseRowObject: false).ToList();
for (int i = 0; i < pooled.Count; i++)
    Console.WriteLine($"{Path.GetFileName(paths[i])}: pooled[0..4] = {string.Join(", ", pooled[i].Pooled.Take(4).Select(v => v.ToString("F3")))}");
Console.WriteLine($"DataFrame columns: {string.Join(", ", result.Columns.Select(c => c.Name))}");

// ## 4. Save and reload: the saved model records the weights' folder and sha256
string zip = Path.Combine(work, "encoder.zip");
ml.Model.Save(model, ((IDataView)frame).Schema, zip);
var reloaded = ml.Model.Load(zip, out _);
var again = ml.Data.CreateEnumerable<Row>(reloaded.Transform(frame), reuseRowObject: false).ToList();
bool same = pooled.Zip(again).All(p => p.First.Pooled.SequenceEqual(p.Second.Pooled));
Console.WriteLine($"reloaded pipeline gives identical features: {same}");
Directory.Delete(work, true);
if (!same) return 1;
Console.WriteLine("notebook OK");
return 0;

sealed class Row
{
    [Microsoft.ML.Data.ColumnName("Latent.Pooled")]
    public float[] Pooled { get; set; } = [];
}
