using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using WfVae.Files;
using static TorchSharp.torch;

namespace WfVae.Training;

/// <summary>Everything a checkpoint holds, as the trainer hands it to <see cref="TrainingCheckpointStore.Save"/>.</summary>
internal sealed record TrainingCheckpointContent(
    WfVaeConfig Config,
    IEnumerable<KeyValuePair<string, Tensor>> ModelWeights,
    IEnumerable<KeyValuePair<string, Tensor>> Optimizer,
    IEnumerable<KeyValuePair<string, Tensor>> Ema,
    IEnumerable<KeyValuePair<string, Tensor>>? Discriminator,
    IEnumerable<KeyValuePair<string, Tensor>>? DiscriminatorOptimizer,
    long Step,
    double TrainSeconds,
    TrainingOptions Options);

/// <summary>The state.json of a stored checkpoint and the folder it was read from.</summary>
internal sealed record StoredCheckpoint(string Directory, long Step, double TrainSeconds, TrainingOptions Options)
{
    public string ModelDirectory => Path.Combine(Directory, TrainingCheckpointStore.ModelFolder);
    public string OptimizerFile => Path.Combine(Directory, TrainingCheckpointStore.OptimizerFileName);
    public string EmaFile => Path.Combine(Directory, TrainingCheckpointStore.EmaFileName);
    public string DiscriminatorFile => Path.Combine(Directory, TrainingCheckpointStore.DiscriminatorFileName);
    public string DiscriminatorOptimizerFile => Path.Combine(Directory, TrainingCheckpointStore.DiscriminatorOptimizerFileName);
}

/// <summary>
/// The checkpoint of a run folder: <c>checkpoint/</c> holding the model (<c>model/config.json</c> + safetensors),
/// optimiser moments, EMA weights, discriminator, step and options. It is replaced as a whole through
/// <see cref="AtomicFileWriter.WriteDirectory"/>, so a crash leaves the previous checkpoint (or its backup) complete.
/// </summary>
internal sealed class TrainingCheckpointStore(string runDirectory)
{
    public const string FolderName = "checkpoint", ModelFolder = "model", OptimizerFileName = "optimizer.safetensors",
        EmaFileName = "ema.safetensors", DiscriminatorFileName = "discriminator.safetensors",
        DiscriminatorOptimizerFileName = "discriminator_optimizer.safetensors", StateFileName = "state.json";

    /// <summary>The run folder (absolute).</summary>
    public string RunDirectory { get; } = Path.GetFullPath(runDirectory);

    /// <summary>Where the checkpoint lives.</summary>
    public string Directory => Path.Combine(RunDirectory, FolderName);

    /// <summary>The complete checkpoint folder: the checkpoint, or the backup an interrupted swap left; null if none.</summary>
    public string? Find()
    {
        foreach (var dir in new[] { Directory, AtomicFileWriter.BackupPathOf(Directory) })
            if (File.Exists(Path.Combine(dir, StateFileName))) return dir;
        return null;
    }

    /// <summary>Reads the checkpoint's state; a clear error when the run folder has none.</summary>
    public StoredCheckpoint Open()
    {
        string dir = Find() ?? throw new DirectoryNotFoundException($"'{RunDirectory}' has no checkpoint ({FolderName}/{StateFileName}).");
        var state = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, StateFileName)))!.AsObject();
        return new StoredCheckpoint(dir, state["step"]!.GetValue<long>(), state["train_seconds"]?.GetValue<double>() ?? 0,
            TrainingOptions.FromJson(state["options"]!.ToJsonString()));
    }

    /// <summary>Writes <paramref name="content"/> as the run's checkpoint, replacing the previous one atomically; returns its folder.</summary>
    public string Save(TrainingCheckpointContent content)
    {
        System.IO.Directory.CreateDirectory(RunDirectory);
        AtomicFileWriter.WriteDirectory(Directory, tmp =>
        {
            var meta = new Dictionary<string, string> { ["step"] = content.Step.ToString(CultureInfo.InvariantCulture) };
            WfVaeModel.WriteFolder(Path.Combine(tmp, ModelFolder), content.Config, content.ModelWeights, ScalarType.Float32, meta);
            SafetensorsWriter.Write(Path.Combine(tmp, OptimizerFileName), content.Optimizer);
            SafetensorsWriter.Write(Path.Combine(tmp, EmaFileName), content.Ema);
            if (content.Discriminator is not null && content.DiscriminatorOptimizer is not null)
            {
                SafetensorsWriter.Write(Path.Combine(tmp, DiscriminatorFileName), content.Discriminator);
                SafetensorsWriter.Write(Path.Combine(tmp, DiscriminatorOptimizerFileName), content.DiscriminatorOptimizer);
            }
            var state = new JsonObject
            {
                ["step"] = content.Step,
                ["train_seconds"] = content.TrainSeconds,
                ["seed"] = content.Options.Seed,
                ["rng"] = "per-step: data Random, posterior noise and dropout masks are derived from (seed, step) only",
                ["written_utc"] = DateTime.UtcNow.ToString("O"),
                ["options"] = JsonNode.Parse(content.Options.ToJson()),
            };
            File.WriteAllText(Path.Combine(tmp, StateFileName), state.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        });
        return Directory;
    }

    /// <summary>
    /// Writes a model folder from the checkpoint, with the EMA weights when <paramref name="useEma"/>, stored as
    /// <paramref name="storage"/> (Float32, Float16 or BFloat16); returns the step of the exported checkpoint.
    /// </summary>
    public long Export(string outDirectory, bool useEma, ScalarType storage, IReadOnlyDictionary<string, string>? metadata)
    {
        var ckpt = Open();
        if (storage is not (ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16))
            throw new ArgumentException($"storage dtype {storage} is not supported; use Float32, Float16 or BFloat16.", nameof(storage));
        using var model = WfVaeModel.Load(ckpt.ModelDirectory);
        if (useEma)
        {
            using var r = new SafetensorsReader(ckpt.EmaFile);
            var sd = model.Network.state_dict();
            using var _ = no_grad();
            foreach (var name in r.Entries.Keys)
            {
                if (!sd.TryGetValue(name, out var dst)) throw new InvalidDataException($"EMA tensor '{name}' is not a model parameter.");
                using var src = r.Read(name);
                dst.copy_(src);
            }
        }
        var meta = new Dictionary<string, string>
        {
            ["format"] = "pt",
            ["wfvae_train_step"] = ckpt.Step.ToString(CultureInfo.InvariantCulture),
            ["wfvae_weights"] = useEma ? "ema" : "raw",
        };
        if (metadata is not null) foreach (var (k, v) in metadata) meta[k] = v;
        model.Save(outDirectory, storage, meta);
        return ckpt.Step;
    }
}
