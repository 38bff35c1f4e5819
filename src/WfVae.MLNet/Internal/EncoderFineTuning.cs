using Microsoft.ML;
using Microsoft.ML.Data;
using WfVae.Pipeline;
using WfVae.Files;
using WfVae.Training;
using WfVae.Video;
using static TorchSharp.torch;

namespace WfVae.MLNet;

/// <summary>What <see cref="WfVaeEncodingEstimator.Fit"/> did when fine-tuning: the folder written and the training run.</summary>
internal sealed record FineTuningResult(string ModelDirectory, TrainingSummary Summary, bool Resumed);

/// <summary>
/// <see cref="WfVaeEncoderOptions.FineTuning"/>: reads the video paths of the input column, trains with <see cref="WfVaeTrainer"/>
/// (new run from the start model, or resume of the run folder's checkpoint), exports the model folder atomically.
/// </summary>
internal static class EncoderFineTuning
{
    public const string ProducerMetadata = "WfVae.MLNet WfVaeEncode fine-tuning";

    /// <summary>Fine-tunes and returns the transformer over the fine-tuned folder.</summary>
    public static WfVaeEncodingTransformer Fit(WfVaeEncoderOptions options, IDataView input)
    {
        var ft = options.FineTuning!;
        var col = Names.FindInput(input.Schema, options.InputColumnName);
        CheckPathColumn(col.Name, col.Type);
        string start = Path.GetFullPath(options.ModelDirectory ?? options.Model!.SourceDirectory!);
        string output = Path.TrimEndingDirectorySeparator(Path.GetFullPath(ft.OutputModelDirectory));
        string run = ft.ResolvedRunDirectory;
        var device = options.Model?.Device ?? WfVaeModel.ParseDevice(options.Device);
        CheckOutput(output, ft.Overwrite);
        var rows = ReadPaths(input, col);
        ft.CancellationToken.ThrowIfCancellationRequested();

        var result = Train(ft, start, output, run, device, rows, options);
        var effective = options with
        {
            ModelDirectory = result.ModelDirectory,
            Model = null,
            Device = WfVaeModelRegistry.DeviceName(device),
            FineTuning = null,
        };
        return new WfVaeEncodingTransformer(effective, input.Schema, result);
    }

    /// <summary>Fine-tuning reads video files, so the input column must hold paths.</summary>
    public static void CheckPathColumn(string name, DataViewType type)
    {
        if (type is not TextDataViewType)
            throw Names.Mismatch(name, "String (video file paths)", Names.Describe(type), Hint);
    }

    public const string Hint = "WfVaeEncoderOptions.FineTuning trains on video files, so the input column must hold video paths; encode video vectors without FineTuning";

    private static void CheckOutput(string output, bool overwrite)
    {
        if (File.Exists(output))
            throw new IOException($"WfVaeFineTuningOptions.OutputModelDirectory '{output}' is a file; it must be a folder path.");
        if (!overwrite && Directory.Exists(output) && Directory.EnumerateFileSystemEntries(output).Any())
            throw new IOException($"WfVaeFineTuningOptions.OutputModelDirectory '{output}' exists and is not empty; choose a new folder or set WfVaeFineTuningOptions.Overwrite = true to replace it.");
    }

    /// <summary>The non-empty paths of the column with their row positions; a missing file fails here, before any training.</summary>
    private static List<(long Row, string Path)> ReadPaths(IDataView input, DataViewSchema.Column col)
    {
        var rows = new List<(long, string)>();
        using (var cursor = input.GetRowCursor([col]))
        {
            var getter = cursor.GetGetter<ReadOnlyMemory<char>>(col);
            ReadOnlyMemory<char> value = default;
            while (cursor.MoveNext())
            {
                getter(ref value);
                string path = value.ToString();
                if (string.IsNullOrWhiteSpace(path)) continue;
                if (!File.Exists(path))
                    throw new WfVaeRowException(EncodingMapping.Stage, col.Name, cursor.Position, path,
                        new FileNotFoundException("the video file does not exist (fine-tuning checks every path before training starts).", path));
                rows.Add((cursor.Position, path));
            }
        }
        if (rows.Count == 0)
            throw new ArgumentException($"WfVaeEncoderOptions.FineTuning needs at least one video path in column '{col.Name}', but it has no non-empty value.", "input");
        return rows;
    }

    private static FineTuningResult Train(WfVaeFineTuningOptions ft, string start, string output, string run, Device device,
        List<(long Row, string Path)> rows, WfVaeEncoderOptions options)
    {
        var read = new VideoReadOptions
        {
            Width = options.Width,
            Height = options.Height,
            FrameStep = options.FrameStep,
            Start = options.Start,
            MaxFrames = options.MaxFrames,
        };
        var rowOf = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (row, path) in rows) rowOf.TryAdd(path, row);
        var ct = ft.CancellationToken;
        DecodedVideo Decode(string path)
        {
            try
            {
                // Not cancelled mid-read: a cancelled run finishes its step and checkpoints it.
                return TrainingVideos.Read(path, read);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw new WfVaeRowException(EncodingMapping.Stage, options.InputColumnName, rowOf.GetValueOrDefault(path, -1), path, e);
            }
        }
        var dataset = new VideoClipDataset(rows.Select(r => r.Path), Decode);

        bool resumed = WfVaeTrainer.HasCheckpoint(run);
        var trainer = resumed
            ? WfVaeTrainer.Resume(run, _ => ft.Training, device)
            : WfVaeTrainer.FromModel(run, start, ft.Training, device);
        TrainingSummary summary;
        using (trainer)
        {
            if (resumed)
            {
                var startConfig = WfVaeConfig.Load(Path.Combine(start, WfVaeModel.ConfigFileName));
                if (trainer.Model.Config.ToJson() != startConfig.ToJson())
                    throw new InvalidOperationException(
                        $"WfVaeFineTuningOptions.RunDirectory '{run}' holds a run of a model whose config.json differs from the one of '{start}'; " +
                        "use another RunDirectory (or delete that folder) to fine-tune this model.");
            }
            using var preloadCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var preload = dataset.PreloadAsync(preloadCts.Token);
            try
            {
                Action<TrainingProgress>? report = ft.Progress is { } p ? p.Report : null;
                summary = trainer.Train(dataset, report, ct);
            }
            finally
            {
                preloadCts.Cancel();
                try { preload.Wait(); }
                catch (AggregateException) { } // a failing video is reported by the training step that needs it
            }
        }
        if (summary.Cancelled)
            throw new OperationCanceledException(
                $"WF-VAE fine-tuning was cancelled at step {summary.EndStep} of {ft.Training.Steps}; no model folder was written. " +
                $"The checkpoint is in '{summary.CheckpointDirectory}': Fit again with the same RunDirectory to resume.", ct);

        Export(run, output, ft, start);
        return new FineTuningResult(output, summary, resumed);
    }

    /// <summary>Exports the run's checkpoint into a temporary sibling folder, then moves it into place.</summary>
    private static void Export(string run, string output, WfVaeFineTuningOptions ft, string start)
    {
        if (Path.GetDirectoryName(output) is null) throw new ArgumentException($"WfVaeFineTuningOptions.OutputModelDirectory '{output}' has no parent folder.");
        AtomicFileWriter.WriteDirectory(output, tmp =>
        {
            WfVaeTrainer.Export(run, tmp, ft.UseEma, ft.StoreFloat16 ? ScalarType.Float16 : ScalarType.Float32,
                new Dictionary<string, string> { ["producer"] = ProducerMetadata, ["wfvae_finetuned_from"] = start });
            using (WfVaeModel.Load(tmp)) { } // never publish a folder that does not load
            CheckOutput(output, ft.Overwrite); // it may have appeared while training
        });
    }

}
