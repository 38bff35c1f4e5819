using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace WfVae.Datasets;

/// <summary>How a latent dataset is made from its videos. Part of the dataset's identity: a folder keeps one set of settings.</summary>
public sealed record DatasetSettings
{
    /// <summary>Frames per clip (after <see cref="FrameStep"/>); valid for the model (1 + 4k for the released models).</summary>
    public int Frames { get; init; } = 33;
    /// <summary>Take every n-th source frame.</summary>
    public int FrameStep { get; init; } = 1;
    /// <summary>Frame width after cover-scaling and centre-cropping; null keeps the source width.</summary>
    public int? Width { get; init; }
    /// <summary>Frame height after cover-scaling and centre-cropping; null keeps the source height.</summary>
    public int? Height { get; init; }
    /// <summary>Clips taken from each video; a video too short for clip k gives a failed row for it.</summary>
    public int ClipsPerVideo { get; init; } = 1;
    /// <summary>Source frames between the starts of consecutive clips of a video; null puts clips back to back (Frames × FrameStep).</summary>
    public int? ClipStride { get; init; }
    /// <summary>Clips per shard file.</summary>
    public int ClipsPerShard { get; init; } = 256;
    /// <summary>Storage type of the latents: Float32, BFloat16 or Float16.</summary>
    public ScalarType LatentDType { get; init; } = ScalarType.Float32;
    /// <summary>The manifest column holding video paths (CSV and Parquet manifests).</summary>
    public string PathColumn { get; init; } = "path";

    /// <summary>Source frames from one clip's start to the next.</summary>
    public int EffectiveClipStride => ClipStride ?? Frames * FrameStep;

    /// <summary>Throws naming the first setting the model or the format refuses.</summary>
    public void Validate(VideoShapeRules rules)
    {
        ArgumentNullException.ThrowIfNull(rules);
        if (!rules.IsValidFrameCount(Frames))
            throw new ArgumentOutOfRangeException(nameof(Frames), Frames, $"clips of {Frames} frames cannot be encoded: the model takes {rules.FrameCountForm} frames (nearest valid: {rules.NearestFrameCounts(Frames)}).");
        foreach (var (name, side) in new[] { (nameof(Width), Width), (nameof(Height), Height) })
            if (side is int n && !rules.IsValidSide(n))
                throw new ArgumentOutOfRangeException(name, n, $"{name.ToLowerInvariant()} {n} is not a multiple of {rules.SpatialFactor} (nearest valid: {rules.NearestSides(n)}).");
        if (FrameStep < 1) throw new ArgumentOutOfRangeException(nameof(FrameStep), FrameStep, "the frame step must be at least 1.");
        if (ClipsPerVideo < 1) throw new ArgumentOutOfRangeException(nameof(ClipsPerVideo), ClipsPerVideo, "at least 1 clip per video.");
        if (ClipStride is < 1) throw new ArgumentOutOfRangeException(nameof(ClipStride), ClipStride, "the clip stride must be at least 1 frame.");
        if (ClipsPerShard < 1) throw new ArgumentOutOfRangeException(nameof(ClipsPerShard), ClipsPerShard, "at least 1 clip per shard.");
        if (LatentDType is not (ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16))
            throw new ArgumentOutOfRangeException(nameof(LatentDType), LatentDType, "latents are stored as Float32, BFloat16 or Float16.");
        ArgumentException.ThrowIfNullOrWhiteSpace(PathColumn);
    }

    /// <summary>"fp32", "bf16" or "fp16".</summary>
    public string LatentDTypeName => LatentDType switch
    {
        ScalarType.BFloat16 => "bf16",
        ScalarType.Float16 => "fp16",
        _ => "fp32",
    };

    /// <summary>Parses "fp32"/"float32", "bf16"/"bfloat16", "fp16"/"float16".</summary>
    public static ScalarType ParseDType(string name) => name.ToLowerInvariant() switch
    {
        "fp32" or "float32" => ScalarType.Float32,
        "bf16" or "bfloat16" => ScalarType.BFloat16,
        "fp16" or "float16" => ScalarType.Float16,
        _ => throw new ArgumentException($"latent dtype '{name}' is not one of fp32, bf16, fp16."),
    };

    internal JsonObject ToJson() => new()
    {
        ["frames"] = Frames,
        ["frame_step"] = FrameStep,
        ["width"] = Width,
        ["height"] = Height,
        ["clips_per_video"] = ClipsPerVideo,
        ["clip_stride"] = EffectiveClipStride,
        ["clips_per_shard"] = ClipsPerShard,
        ["latent_dtype"] = LatentDTypeName,
        ["path_column"] = PathColumn,
        ["shape_policy"] = "strict",
    };
}
