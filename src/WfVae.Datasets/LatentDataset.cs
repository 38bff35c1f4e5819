using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace WfVae.Datasets;

/// <summary>
/// A finished latent dataset opened for reading: its clip rows (from <c>manifest.parquet</c>) and where each latent is.
/// Opening reads only the small files (<c>dataset.json</c>, the manifest, the commit markers' existence); latents are read
/// shard by shard with a <see cref="LatentShardReader"/>.
/// </summary>
public sealed class LatentDataset
{
    private LatentDataset(string directory, IReadOnlyList<ClipRecord> clips, IReadOnlyList<string> carried, string latentDType)
    {
        Directory = directory;
        Clips = clips;
        CarriedColumns = carried;
        LatentDType = latentDType;
    }

    /// <summary>The dataset folder (full path).</summary>
    public string Directory { get; }
    /// <summary>Every clip, ok and failed, in manifest order.</summary>
    public IReadOnlyList<ClipRecord> Clips { get; }
    /// <summary>The source manifest's other columns, in order.</summary>
    public IReadOnlyList<string> CarriedColumns { get; }
    /// <summary>How the latents are stored: "fp32", "bf16" or "fp16" (read back as float32).</summary>
    public string LatentDType { get; }

    /// <summary>The path of the manifest inside a dataset folder.</summary>
    public static string ManifestPath(string directory) => new DatasetLayout(directory).Manifest;

    /// <summary>
    /// Opens the dataset in <paramref name="directory"/>; throws naming the file at fault when the folder is not a latent
    /// dataset, is not finished (no <c>manifest.parquet</c>, a shard without its commit marker) or lists a missing shard.
    /// </summary>
    public static LatentDataset Open(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        var layout = new DatasetLayout(directory);
        string dir = layout.Directory;
        if (!System.IO.Directory.Exists(dir))
            throw new DirectoryNotFoundException($"latent dataset folder '{dir}' does not exist.");
        string recordPath = Path.Combine(dir, DatasetRecord.FileName);
        if (!File.Exists(recordPath))
            throw new InvalidDataException($"'{dir}' is not a WF-VAE latent dataset: it has no {DatasetRecord.FileName} (a folder written by `wfvae dataset encode` has dataset.json, manifest.parquet and shards/).");
        JsonObject record;
        try { record = JsonNode.Parse(File.ReadAllText(recordPath))?.AsObject() ?? throw new InvalidDataException("it is empty"); }
        catch (Exception e) when (e is JsonException or InvalidOperationException or InvalidDataException)
        {
            throw new InvalidDataException($"'{recordPath}' is not a WF-VAE dataset record ({e.Message}).", e);
        }
        string? format = (record["format"] as JsonValue)?.ToString();
        if (format != DatasetRecord.Format)
            throw new InvalidDataException($"'{recordPath}' has format {(format is null ? "absent" : $"'{format}'")}; this reader reads '{DatasetRecord.Format}'.");
        int shards = ReadInt(record, "shards", recordPath);
        long clipCount = ReadInt(record, "clips", recordPath);
        string dtype = (record["preprocessing"]?["latent_dtype"] as JsonValue)?.ToString() ?? "fp32";

        if (!File.Exists(layout.Manifest))
        {
            var uncommitted = Enumerable.Range(0, shards).Where(s => !File.Exists(layout.Commit(s))).ToList();
            string state = uncommitted.Count == 0
                ? $"all {shards} shards are committed, so run `wfvae dataset encode` again with the same settings to write it"
                : $"{shards - uncommitted.Count} of {shards} shards are committed; not yet: {string.Join(", ", uncommitted.Take(5).Select(s => Path.GetFileName(layout.Commit(s))))}{(uncommitted.Count > 5 ? ", …" : "")}";
            throw new FileNotFoundException(
                $"latent dataset '{dir}' has no manifest.parquet: `wfvae dataset encode` writes it once every shard is committed ({state}).", layout.Manifest);
        }
        var (clips, carried) = ClipManifestFile.Read(layout.Manifest);
        if (clips.Count != clipCount)
            throw new InvalidDataException($"'{layout.Manifest}' lists {clips.Count} clips but '{recordPath}' records {clipCount}; the dataset is inconsistent, encode it again.");
        foreach (var shardFile in clips.Select(c => c.ShardFile).Distinct(StringComparer.Ordinal))
        {
            string tensors = Path.Combine(dir, shardFile);
            if (!File.Exists(tensors))
                throw new FileNotFoundException($"shard '{tensors}' listed in '{layout.Manifest}' does not exist.", tensors);
            string commit = Path.ChangeExtension(tensors, ".commit.json");
            if (!File.Exists(commit))
                throw new InvalidDataException($"shard '{tensors}' listed in '{layout.Manifest}' has no commit marker '{Path.GetFileName(commit)}'; `wfvae dataset encode` writes it when the shard is complete, so encode the dataset again.");
        }
        return new LatentDataset(dir, clips, carried, dtype);
    }

    /// <summary>The full path of the shard file holding <paramref name="clip"/>'s latent.</summary>
    public string ShardPath(ClipRecord clip) => Path.Combine(Directory, clip.ShardFile);

    /// <summary>The one latent shape (z, t, h, w) every ok clip of <paramref name="clips"/> has; null when they differ or none is ok.</summary>
    public static int[]? CommonLatentShape(IEnumerable<ClipRecord> clips)
    {
        int[]? shape = null;
        foreach (var c in clips)
        {
            if (c.Status != ClipRecord.Ok || c.LatentShape is not { } s) continue;
            if (shape is null) shape = s;
            else if (!shape.AsSpan().SequenceEqual(s)) return null;
        }
        return shape;
    }

    private static int ReadInt(JsonObject record, string key, string path)
    {
        try { return record[key]?.GetValue<int>() ?? throw new InvalidDataException($"'{path}' has no '{key}'."); }
        catch (Exception e) when (e is FormatException or InvalidOperationException)
        {
            throw new InvalidDataException($"'{path}': '{key}' is not an integer.", e);
        }
    }
}

/// <summary>
/// Reads latents of a <see cref="LatentDataset"/> as float32, keeping one shard open at a time (the one the last clip was
/// in), so reading clips in order touches each shard once. One reader serves one thread.
/// </summary>
public sealed class LatentShardReader(LatentDataset dataset) : IDisposable
{
    private SafetensorsReader? _shard;
    private string? _shardFile;

    /// <summary>Values a latent of <paramref name="clip"/>'s recorded shape has.</summary>
    public static int LatentLength(ClipRecord clip) => clip.LatentShape?.Aggregate(1, (a, b) => checked(a * b)) ?? 0;

    /// <summary>
    /// Copies the latent of the ok clip <paramref name="clip"/> (decoded from its stored dtype) into <paramref name="destination"/>,
    /// which must hold <see cref="LatentLength"/> values. Throws naming the shard file and key when the tensor is missing or
    /// its shape or dtype is not what the manifest records.
    /// </summary>
    public void Read(ClipRecord clip, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(clip);
        if (clip.Status != ClipRecord.Ok || clip.ShardKey is null || clip.LatentShape is null)
            throw new InvalidOperationException($"clip '{clip.ClipId}' has status '{clip.Status}' and no latent ({clip.Error ?? "no error recorded"}).");
        var shard = Shard(clip);
        if (!shard.Entries.TryGetValue(clip.ShardKey, out var entry))
            throw new InvalidDataException($"shard '{shard.Path}' has no tensor '{clip.ShardKey}' for clip '{clip.ClipId}', which manifest.parquet lists in it; the shard was changed after it was committed, so encode the dataset again.");
        long[] want = clip.LatentShape.Select(d => (long)d).ToArray();
        if (!entry.Shape.AsSpan().SequenceEqual(want))
            throw new InvalidDataException($"shard '{shard.Path}' tensor '{clip.ShardKey}' has shape {entry.ShapeText}, but manifest.parquet records [{string.Join(",", want)}] (latent_shape) for clip '{clip.ClipId}'; the shard was changed after it was committed, so encode the dataset again.");
        if (entry.DType is not ("F32" or "BF16" or "F16"))
            throw new InvalidDataException($"shard '{shard.Path}' tensor '{clip.ShardKey}' is stored as {entry.DType}; latents are F32, BF16 or F16.");
        if (destination.Length != LatentLength(clip))
            throw new ArgumentException($"destination holds {destination.Length} values; the latent of clip '{clip.ClipId}' has {LatentLength(clip)}.", nameof(destination));
        using var scope = NewDisposeScope();
        var stored = shard.Read(clip.ShardKey);
        var values = stored.dtype == ScalarType.Float32 ? stored : stored.to_type(ScalarType.Float32);
        MemoryMarshal.Cast<byte, float>(values.bytes).CopyTo(destination);
    }

    private SafetensorsReader Shard(ClipRecord clip)
    {
        if (_shard is not null && _shardFile == clip.ShardFile) return _shard;
        _shard?.Dispose();
        _shard = null;
        _shard = new SafetensorsReader(dataset.ShardPath(clip));
        _shardFile = clip.ShardFile;
        return _shard;
    }

    public void Dispose()
    {
        _shard?.Dispose();
        _shard = null;
    }
}
