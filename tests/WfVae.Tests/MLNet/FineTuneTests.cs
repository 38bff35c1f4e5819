using Microsoft.ML;
using Microsoft.ML.Data;
using TorchSharp;
using WfVae.MLNet;
using WfVae.Training;
using static TorchSharp.torch;
using static WfVae.Tests.MLNet.MLNetTestData;

namespace WfVae.Tests.MLNet;

/// <summary>
/// WfVaeEncode with <see cref="WfVaeEncoderOptions.FineTuning"/>: Fit trains the tiny fixture model for a few steps on the input
/// column's videos, writes the fine-tuned folder atomically and returns a transformer encoding with it.
/// </summary>
[Collection(GlobalTorchStateCollection.Name)]
public sealed class FineTuneTests : IDisposable
{
    private const double Tol = 1e-5;
    private readonly string _dir = TestPaths.NewTempDir("wfvae-mlnet-finetune");
    private readonly int _threads = torch.get_num_threads();

    // One intra-op thread, as in TrainerTests: the tiny model gains nothing from more. Restored after each test.
    public FineTuneTests() => torch.set_num_threads(1);

    public void Dispose()
    {
        torch.set_num_threads(_threads);
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static readonly TrainingOptions FewSteps = new()
    {
        Steps = 3,
        Frames = 5,
        Size = 32,
        LearningRate = 1e-3,
        CheckpointEvery = 100,
        LogEvery = 1,
        Seed = 5,
    };

    private WfVaeEncoderOptions Options(string output, TrainingOptions? training = null, bool overwrite = false,
        IProgress<TrainingProgress>? progress = null, CancellationToken ct = default) => new()
    {
        OutputColumnName = "Latent",
        InputColumnName = "Video",
        ModelDirectory = ModelDir,
        Width = 32,
        Height = 32,
        MaxFrames = 9,
        ChunkFrames = 8,
        FineTuning = new WfVaeFineTuningOptions
        {
            OutputModelDirectory = output,
            Training = training ?? FewSteps,
            Overwrite = overwrite,
            Progress = progress,
            CancellationToken = ct,
        },
    };

    /// <summary>Calls an action synchronously on every report (Progress&lt;T&gt; would post to the thread pool).</summary>
    private sealed class SyncProgress(Action<TrainingProgress> action) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => action(value);
    }

    private static string[] Leftovers(string output) =>
        Directory.GetDirectories(Path.GetDirectoryName(output)!, "." + Path.GetFileName(output) + ".*");

    [Fact]
    public void Fit_WritesFineTunedFolder_TransformerEncodesWithIt_AndSavedPipelineRoundTrips()
    {
        var ml = new MLContext(seed: 1);
        var data = Paths(ml, Mandelbrot, Box);
        string output = Path.Combine(_dir, "tuned");
        var reports = new List<TrainingProgress>();
        using var t = ml.Transforms.WfVaeEncode(Options(output, progress: new SyncProgress(reports.Add))).Fit(data);

        // The folder: complete, loadable, nothing half-written beside it; the run folder keeps the checkpoint.
        Assert.Equal(Path.GetFullPath(output), t.FineTunedModelDirectory);
        Assert.Equal(t.FineTunedModelDirectory, t.Options.ModelDirectory);
        Assert.Null(t.Options.FineTuning);
        Assert.Equal([WfVaeModel.ConfigFileName, WfVaeModel.WeightsFileName], Directory.GetFiles(output).Select(Path.GetFileName).Order());
        Assert.Empty(Leftovers(output));
        Assert.True(WfVaeTrainer.HasCheckpoint(output + ".run"));
        Assert.False(t.FineTuningResumed);
        Assert.Equal((0L, 3L, false), (t.FineTuningSummary!.StartStep, t.FineTuningSummary.EndStep, t.FineTuningSummary.Cancelled));
        Assert.Equal([1L, 2L, 3L], reports.Select(r => r.Last.Step));
        Assert.Equal(output, t.Model.SourceDirectory);

        // The transformer encodes with the fine-tuned weights: equal to a direct Load(output).Encode, different from the start model.
        var view = t.Transform(data);
        var latents = Column(view, "Latent");
        using var tuned = WfVaeModel.Load(output);
        string[] files = [Mandelbrot, Box];
        for (int r = 0; r < files.Length; r++)
        {
            using var scope = NewDisposeScope();
            var x = ReadVideo(files[r], 32, 32, 9);
            using var d = tuned.Encode(x);
            AssertClose(Flat(d.Mean), latents[r], Tol, $"row {r} fine-tuned mean");
            using var b = TinyModel.Encode(x);
            double moved = MaxAbsDiff(Flat(b.Mean), latents[r]);
            Assert.True(moved > 1e-3, $"row {r}: fine-tuned latents equal the start model's (max abs diff {moved:E2})");
        }

        // Saved and loaded: same values, from the fine-tuned folder (the start model's latents differ, see above).
        string zip = Path.Combine(_dir, "pipeline.zip");
        ml.Model.Save(t, data.Schema, zip);
        var loaded = ml.Model.Load(zip, out var schema);
        Assert.Equal(TextDataViewType.Instance, schema["Video"].Type);
        var reloaded = Columns(loaded.Transform(data), "Latent", "Latent.Pooled");
        var inMemory = Columns(view, "Latent", "Latent.Pooled");
        for (int c = 0; c < 2; c++)
            for (int r = 0; r < files.Length; r++)
                Assert.True(inMemory[c][r].SequenceEqual(reloaded[c][r]), $"column {c} row {r} differs after save/load");

        // A decode stage can use the fine-tuned folder.
        using var decode = ml.Transforms.WfVaeDecode("Decoded", "Latent", t.FineTunedModelDirectory!).Fit(view);
        Assert.Equal(2, Column(decode.Transform(view), "Decoded").Count);
    }

    [Fact]
    public void Cancellation_LeavesCheckpointAndNoModel_ThenFitResumesTheRun()
    {
        var ml = new MLContext(seed: 1);
        var data = Paths(ml, Box);
        string output = Path.Combine(_dir, "tuned");
        string run = output + ".run";

        // Already cancelled: nothing is trained or written.
        using (var pre = new CancellationTokenSource())
        {
            pre.Cancel();
            Assert.ThrowsAny<OperationCanceledException>(() => ml.Transforms.WfVaeEncode(Options(output, ct: pre.Token)).Fit(data));
            Assert.False(Directory.Exists(output));
            Assert.False(WfVaeTrainer.HasCheckpoint(run));
        }

        // Cancelled after the first step: the step is checkpointed, no model folder appears.
        using (var cts = new CancellationTokenSource())
        {
            var e = Assert.ThrowsAny<OperationCanceledException>(() =>
                ml.Transforms.WfVaeEncode(Options(output, progress: new SyncProgress(_ => cts.Cancel()), ct: cts.Token)).Fit(data));
            Assert.Equal(cts.Token, e.CancellationToken);
            Assert.Contains("step 1 of 3", e.Message);
            Assert.False(Directory.Exists(output));
            Assert.Empty(Leftovers(output));
            Assert.True(WfVaeTrainer.HasCheckpoint(run));
        }

        // The next Fit resumes at step 1 and finishes the run.
        using (var t = ml.Transforms.WfVaeEncode(Options(output)).Fit(data))
        {
            Assert.True(t.FineTuningResumed);
            Assert.Equal((1L, 3L), (t.FineTuningSummary!.StartStep, t.FineTuningSummary.EndStep));
            Assert.True(File.Exists(Path.Combine(output, WfVaeModel.WeightsFileName)));
        }

        // The output now exists: refused before any training unless Overwrite; with it, more steps continue the run.
        var exists = Assert.Throws<IOException>(() => ml.Transforms.WfVaeEncode(Options(output, FewSteps with { Steps = 4 })).Fit(data));
        Assert.Contains("Overwrite", exists.Message);
        using (var t = ml.Transforms.WfVaeEncode(Options(output, FewSteps with { Steps = 4 }, overwrite: true)).Fit(data))
        {
            Assert.True(t.FineTuningResumed);
            Assert.Equal((3L, 4L), (t.FineTuningSummary!.StartStep, t.FineTuningSummary.EndStep));
        }
        Assert.Empty(Leftovers(output));
        Assert.Equal([WfVaeModel.ConfigFileName, WfVaeModel.WeightsFileName], Directory.GetFiles(output).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void VectorInputColumn_IsAClearError()
    {
        var ml = new MLContext(seed: 1);
        var def = SchemaDefinition.Create(typeof(EncodeTests.VideoRow));
        def["Video"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, 3, 9, 32, 32);
        var data = ml.Data.LoadFromEnumerable([new EncodeTests.VideoRow { Video = new float[3 * 9 * 32 * 32] }], def);
        var est = ml.Transforms.WfVaeEncode(Options(Path.Combine(_dir, "tuned")));

        var fit = Assert.Throws<ArgumentOutOfRangeException>(() => est.Fit(data));
        Assert.StartsWith("Schema mismatch for input column 'Video': expected String (video file paths), got Vector<Single, 3, 9, 32, 32>", fit.Message);
        Assert.Contains("FineTuning", fit.Message);
        var chain = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.CopyColumns("Copy", "Video").Append(est).Fit(data));
        Assert.StartsWith("Schema mismatch for input column 'Video': expected String (video file paths)", chain.Message);
        Assert.False(Directory.Exists(Path.Combine(_dir, "tuned.run")));
    }

    [Fact]
    public void MissingOrBadVideo_FailsNamingRowAndPath_MissingBeforeTraining()
    {
        var ml = new MLContext(seed: 1);
        var data = Paths(ml, Box, "", Missing);
        string output = Path.Combine(_dir, "tuned");
        var e = Assert.Throws<WfVaeRowException>(() => ml.Transforms.WfVaeEncode(Options(output)).Fit(data));
        Assert.Equal((2L, Missing, "Video"), (e.RowPosition, e.FilePath, e.ColumnName));
        Assert.Contains($"row 2 of column 'Video', file '{Missing}'", e.Message);
        Assert.IsType<FileNotFoundException>(e.InnerException);
        Assert.False(Directory.Exists(output + ".run"));
        Assert.False(Directory.Exists(output));

        // A file that exists but does not decode fails in the first training step, naming its row and path.
        var bad = Assert.Throws<WfVaeRowException>(() => ml.Transforms.WfVaeEncode(Options(output)).Fit(Paths(ml, NotAVideo)));
        Assert.Equal((0L, NotAVideo), (bad.RowPosition, bad.FilePath));
        Assert.False(Directory.Exists(output));

        var empty = Assert.Throws<ArgumentException>(() => ml.Transforms.WfVaeEncode(Options(output)).Fit(Paths(ml, "", " ")));
        Assert.Contains("at least one video path in column 'Video'", empty.Message);
    }

    [Fact]
    public void InvalidOptions_NameTheOption()
    {
        var ml = new MLContext(seed: 1);
        string output = Path.Combine(_dir, "tuned");
        var o = Options(output);

        var steps = Assert.Throws<ArgumentException>(() => ml.Transforms.WfVaeEncode(o with { FineTuning = o.FineTuning! with { Training = FewSteps with { Steps = 0 } } }));
        Assert.Contains("WfVaeFineTuningOptions.Training.Steps must be >= 1", steps.Message);
        var frames = Assert.Throws<ArgumentException>(() => ml.Transforms.WfVaeEncode(o with { FineTuning = o.FineTuning! with { Training = FewSteps with { Frames = 6 } } }));
        Assert.Contains("WfVaeFineTuningOptions.Training is invalid: TrainingOptions.Frames must be 1 + 4k", frames.Message);
        var size = Assert.Throws<ArgumentException>(() => ml.Transforms.WfVaeEncode(o with { FineTuning = o.FineTuning! with { Training = FewSteps with { Size = 64 } } }));
        Assert.Contains("Training.Size 64 is larger than the frames this stage reads (32x32)", size.Message);
        var same = Assert.Throws<ArgumentException>(() => ml.Transforms.WfVaeEncode(o with { FineTuning = o.FineTuning! with { OutputModelDirectory = ModelDir } }));
        Assert.Contains("must be a folder separate from the model it starts from", same.Message);
        var nested = Assert.Throws<ArgumentException>(() => ml.Transforms.WfVaeEncode(o with { FineTuning = o.FineTuning! with { RunDirectory = Path.Combine(output, "run") } }));
        Assert.Contains("WfVaeFineTuningOptions.RunDirectory", nested.Message);
        using var created = WfVaeModel.Create(TinyModel.Config);
        var noFolder = Assert.Throws<ArgumentException>(() => ml.Transforms.WfVaeEncode(o with { ModelDirectory = null, Model = created }));
        Assert.Contains("SourceDirectory is null", noFolder.Message);

        Assert.Equal(Path.GetFullPath(output) + ".run", o.FineTuning!.ResolvedRunDirectory);
        Assert.Equal(WfVaeFineTuningOptions.DefaultTraining, new WfVaeFineTuningOptions { OutputModelDirectory = output }.Training);
    }
}
