using System.Globalization;

namespace WfVae.Datasets.Hangfire;

/// <summary>
/// What one queued job runs: one shard of one dataset job. Plain values only, so Hangfire stores it as JSON and any
/// worker can run it; paths are absolute and must mean the same folder on every worker machine (shared storage).
/// </summary>
public sealed record DatasetShardJob
{
    /// <summary>The manifest (folder of videos, CSV or Parquet), absolute.</summary>
    public required string Manifest { get; init; }
    /// <summary>The latent dataset's folder, absolute.</summary>
    public required string OutputDirectory { get; init; }
    /// <summary>The WF-VAE model folder, absolute.</summary>
    public required string ModelDirectory { get; init; }
    /// <summary>The shard this job encodes.</summary>
    public int Shard { get; init; }
    /// <summary>Shards in the dataset (for messages).</summary>
    public int ShardCount { get; init; }
    /// <summary>Runs before the shard is parked in Hangfire's failed state: the first try plus retries.</summary>
    public int Attempts { get; init; } = 3;
    /// <summary>Seconds between a failed attempt and the next.</summary>
    public int RetryDelaySeconds { get; init; } = 60;

    /// <summary>See <see cref="DatasetSettings.Frames"/>.</summary>
    public int Frames { get; init; }
    /// <summary>See <see cref="DatasetSettings.FrameStep"/>.</summary>
    public int FrameStep { get; init; } = 1;
    /// <summary>See <see cref="DatasetSettings.Width"/>.</summary>
    public int? Width { get; init; }
    /// <summary>See <see cref="DatasetSettings.Height"/>.</summary>
    public int? Height { get; init; }
    /// <summary>See <see cref="DatasetSettings.ClipsPerVideo"/>.</summary>
    public int ClipsPerVideo { get; init; } = 1;
    /// <summary>See <see cref="DatasetSettings.ClipStride"/>.</summary>
    public int? ClipStride { get; init; }
    /// <summary>See <see cref="DatasetSettings.ClipsPerShard"/>.</summary>
    public int ClipsPerShard { get; init; }
    /// <summary>"fp32", "bf16" or "fp16".</summary>
    public string LatentDType { get; init; } = "fp32";
    /// <summary>See <see cref="DatasetSettings.PathColumn"/>.</summary>
    public string PathColumn { get; init; } = "path";

    /// <summary>The job for <paramref name="shard"/> of <paramref name="encode"/>, with its paths made absolute.</summary>
    public static DatasetShardJob For(DatasetEncodeOptions encode, string modelDirectory, int shard, int shardCount, int attempts, int retryDelaySeconds)
    {
        ArgumentNullException.ThrowIfNull(encode);
        ArgumentException.ThrowIfNullOrWhiteSpace(modelDirectory);
        var s = encode.Settings;
        return new DatasetShardJob
        {
            Manifest = Path.GetFullPath(encode.Manifest),
            OutputDirectory = Path.GetFullPath(encode.OutputDirectory),
            ModelDirectory = Path.GetFullPath(modelDirectory),
            Shard = shard,
            ShardCount = shardCount,
            Attempts = attempts,
            RetryDelaySeconds = retryDelaySeconds,
            Frames = s.Frames,
            FrameStep = s.FrameStep,
            Width = s.Width,
            Height = s.Height,
            ClipsPerVideo = s.ClipsPerVideo,
            ClipStride = s.ClipStride,
            ClipsPerShard = s.ClipsPerShard,
            LatentDType = s.LatentDTypeName,
            PathColumn = s.PathColumn,
        };
    }

    /// <summary>The dataset settings this job was planned with.</summary>
    public DatasetSettings ToSettings() => new()
    {
        Frames = Frames,
        FrameStep = FrameStep,
        Width = Width,
        Height = Height,
        ClipsPerVideo = ClipsPerVideo,
        ClipStride = ClipStride,
        ClipsPerShard = ClipsPerShard,
        LatentDType = DatasetSettings.ParseDType(LatentDType),
        PathColumn = PathColumn,
    };

    /// <summary>The encoder options that run exactly this shard.</summary>
    public DatasetEncodeOptions ToEncodeOptions() => new()
    {
        Manifest = Manifest,
        OutputDirectory = OutputDirectory,
        Settings = ToSettings(),
        Shards = new HashSet<int> { Shard },
    };

    /// <summary>How the job reads in Hangfire's dashboard and in messages.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"shard {Shard} of {ShardCount} -> {OutputDirectory}");
}
