using Parquet.Schema;
using Parquet.Serialization;

namespace WfVae.Datasets;

/// <summary>One row of a latent dataset's manifest: a clip, where it came from, how it was made and where its latent is.</summary>
public sealed record ClipRecord
{
    public required string ClipId { get; init; }
    public required string SourcePath { get; init; }
    public required int ClipIndex { get; init; }
    public required int StartFrame { get; init; }
    public required int FrameCount { get; init; }
    public required int FrameStep { get; init; }
    /// <summary>Frame rate of the source (0 when unknown or unreadable).</summary>
    public double Fps { get; init; }
    public int? SourceWidth { get; init; }
    public int? SourceHeight { get; init; }
    /// <summary>Size the source was cover-scaled to before the centred crop.</summary>
    public int? ResizedWidth { get; init; }
    public int? ResizedHeight { get; init; }
    public int? CropX { get; init; }
    public int? CropY { get; init; }
    /// <summary>Processed (encoded) frame size.</summary>
    public int? Width { get; init; }
    public int? Height { get; init; }
    /// <summary>Latent shape (z, t, h, w); null for a failed clip.</summary>
    public int[]? LatentShape { get; init; }
    public required string LatentDType { get; init; }
    public required string ShardFile { get; init; }
    /// <summary>The tensor's key inside <see cref="ShardFile"/> (null for a failed clip).</summary>
    public string? ShardKey { get; init; }
    /// <summary>"ok" or "failed".</summary>
    public required string Status { get; init; }
    /// <summary>Why the clip failed (null when ok).</summary>
    public string? Error { get; init; }
    /// <summary>The manifest's other columns.</summary>
    public IReadOnlyDictionary<string, string?> Carried { get; init; } = new Dictionary<string, string?>();

    public const string Ok = "ok", Failed = "failed";

    /// <summary>The output columns, in file order (carried columns follow them).</summary>
    public static readonly IReadOnlyList<string> ColumnNames =
    [
        "clip_id", "source_path", "clip_index", "start_frame", "frame_count", "frame_step", "fps", "source_width", "source_height",
        "resized_width", "resized_height", "crop_x", "crop_y", "width", "height", "latent_shape", "latent_dtype",
        "shard_file", "shard_key", "status", "error",
    ];

    internal static ParquetSchema Schema(IReadOnlyList<string> carried) => new(
    [
        new DataField<string>("clip_id"), new DataField<string>("source_path"), new DataField<int>("clip_index"),
        new DataField<int>("start_frame"), new DataField<int>("frame_count"), new DataField<int>("frame_step"), new DataField<double>("fps"),
        new DataField<int?>("source_width"), new DataField<int?>("source_height"), new DataField<int?>("resized_width"), new DataField<int?>("resized_height"),
        new DataField<int?>("crop_x"), new DataField<int?>("crop_y"), new DataField<int?>("width"), new DataField<int?>("height"),
        new DataField<string>("latent_shape"), new DataField<string>("latent_dtype"), new DataField<string>("shard_file"), new DataField<string>("shard_key"),
        new DataField<string>("status"), new DataField<string>("error"),
        .. carried.Select(c => new DataField<string>(c)),
    ]);

    internal Dictionary<string, object?> ToRow()
    {
        var row = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["clip_id"] = ClipId, ["source_path"] = SourcePath, ["clip_index"] = ClipIndex, ["start_frame"] = StartFrame,
            ["frame_count"] = FrameCount, ["frame_step"] = FrameStep, ["fps"] = Fps,
            ["source_width"] = SourceWidth, ["source_height"] = SourceHeight, ["resized_width"] = ResizedWidth, ["resized_height"] = ResizedHeight,
            ["crop_x"] = CropX, ["crop_y"] = CropY, ["width"] = Width, ["height"] = Height,
            ["latent_shape"] = LatentShape is null ? null : string.Join(",", LatentShape), ["latent_dtype"] = LatentDType,
            ["shard_file"] = ShardFile, ["shard_key"] = ShardKey, ["status"] = Status, ["error"] = Error,
        };
        foreach (var (k, v) in Carried) row[k] = v;
        return row;
    }

    internal static ClipRecord FromRow(IReadOnlyDictionary<string, object?> row, IReadOnlyList<string> carried)
    {
        string? S(string k) => row.TryGetValue(k, out var v) ? v switch { null => null, ReadOnlyMemory<char> m => m.ToString(), _ => v.ToString() } : null;
        int? I(string k) => row.TryGetValue(k, out var v) && v is not null ? Convert.ToInt32(v, System.Globalization.CultureInfo.InvariantCulture) : null;
        return new ClipRecord
        {
            ClipId = S("clip_id")!, SourcePath = S("source_path")!, ClipIndex = I("clip_index") ?? 0, StartFrame = I("start_frame") ?? 0,
            FrameCount = I("frame_count") ?? 0, FrameStep = I("frame_step") ?? 1,
            Fps = row.TryGetValue("fps", out var f) && f is not null ? Convert.ToDouble(f, System.Globalization.CultureInfo.InvariantCulture) : 0,
            SourceWidth = I("source_width"), SourceHeight = I("source_height"), ResizedWidth = I("resized_width"), ResizedHeight = I("resized_height"),
            CropX = I("crop_x"), CropY = I("crop_y"), Width = I("width"), Height = I("height"),
            LatentShape = S("latent_shape") is { Length: > 0 } shape ? shape.Split(',').Select(v => int.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray() : null,
            LatentDType = S("latent_dtype") ?? "fp32", ShardFile = S("shard_file")!, ShardKey = S("shard_key"), Status = S("status")!, Error = S("error"),
            Carried = carried.ToDictionary(c => c, S, StringComparer.Ordinal),
        };
    }
}

/// <summary>Reads and writes clip manifests (Parquet, one row per clip).</summary>
public static class ClipManifestFile
{
    /// <summary>Writes <paramref name="records"/> (atomically) with the carried columns named.</summary>
    public static void Write(string path, IReadOnlyList<ClipRecord> records, IReadOnlyList<string> carried)
    {
        var rows = records.Select(r => (IDictionary<string, object?>)r.ToRow()).ToList();
        Files.AtomicFileWriter.WriteFile(path, s =>
        {
            using var buffer = new MemoryStream();
            ParquetSerializer.SerializeUntypedAsync(rows!, ClipRecord.Schema(carried), buffer).GetAwaiter().GetResult();
            buffer.Position = 0;
            buffer.CopyTo(s);
        });
    }

    /// <summary>Reads a clip manifest: its records and carried column names.</summary>
    public static (IReadOnlyList<ClipRecord> Records, IReadOnlyList<string> Carried) Read(string path)
    {
        using var stream = File.OpenRead(path);
        var table = ParquetSerializer.DeserializeUntypedAsync(stream).GetAwaiter().GetResult();
        var names = table.Schema.GetDataFields().Select(f => f.Name).ToList();
        var missing = ClipRecord.ColumnNames.Except(names).ToList();
        if (missing.Count > 0) throw new InvalidDataException($"'{path}' is not a WF-VAE clip manifest: it lacks {string.Join(", ", missing)}.");
        var carried = names.Except(ClipRecord.ColumnNames).ToList();
        return (table.Data.Select(r => ClipRecord.FromRow(r!, carried)).ToList(), carried);
    }
}
