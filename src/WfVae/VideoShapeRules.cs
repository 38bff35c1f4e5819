namespace WfVae;

/// <summary>What to do with a video whose frame count or size the model cannot take as is.</summary>
public enum ShapePolicy
{
    /// <summary>Reject it with an error naming the nearest valid sizes (default).</summary>
    Strict,
    /// <summary>Repeat the last frame up to 1 + Tk frames and the last row/column up to multiples of S; trim after decode.</summary>
    PadAndTrim,
}

/// <summary>
/// The frame-count and size rules of a causal video VAE that compresses time by <see cref="TemporalFactor"/> (after the
/// first frame) and height/width by <see cref="SpatialFactor"/>: valid videos have 1 + T·k frames and sides that are
/// multiples of S. Built from a model's config (<see cref="WfVaeConfig.ShapeRules"/>); messages name valid sizes.
/// </summary>
public sealed record VideoShapeRules
{
    /// <summary>Rules for the given factors (both at least 1).</summary>
    public VideoShapeRules(int temporalFactor, int spatialFactor)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(temporalFactor, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(spatialFactor, 1);
        TemporalFactor = temporalFactor;
        SpatialFactor = spatialFactor;
    }

    /// <summary>Video frames per latent frame after the first.</summary>
    public int TemporalFactor { get; }
    /// <summary>Pixels per latent pixel along height and width.</summary>
    public int SpatialFactor { get; }

    /// <summary>"1 + 4k" for T = 4: how valid frame counts are written in messages.</summary>
    public string FrameCountForm => $"1 + {TemporalFactor}k";

    /// <summary>Whether T = 1 + T·k.</summary>
    public bool IsValidFrameCount(long t) => t >= 1 && (t - 1) % TemporalFactor == 0;

    /// <summary>Smallest valid frame count ≥ t.</summary>
    public long PaddedFrameCount(long t) => t <= 1 ? 1 : 1 + (t - 1 + TemporalFactor - 1) / TemporalFactor * TemporalFactor;

    /// <summary>Largest valid frame count ≤ t (1 for t ≤ 1).</summary>
    public long TrimmedFrameCount(long t) => t <= 1 ? 1 : 1 + (t - 1) / TemporalFactor * TemporalFactor;

    /// <summary>Smallest valid frame count ≥ t (t itself when valid).</summary>
    public long PadFrameCountOrSelf(long t) => IsValidFrameCount(t) ? t : PaddedFrameCount(t);

    /// <summary>Whether a side of n pixels is valid: a positive multiple of S.</summary>
    public bool IsValidSide(long n) => n >= SpatialFactor && n % SpatialFactor == 0;

    /// <summary>Smallest multiple of S ≥ n.</summary>
    public long PaddedSide(long n) => (n + SpatialFactor - 1) / SpatialFactor * SpatialFactor;

    /// <summary>Largest multiple of S ≤ n, at least S.</summary>
    public long TrimmedSide(long n) => Math.Max(SpatialFactor, n / SpatialFactor * SpatialFactor);

    /// <summary>Latent frames for a valid T.</summary>
    public long LatentFrames(long t) => (t - 1) / TemporalFactor + 1;

    /// <summary>Latent pixels for a valid side.</summary>
    public long LatentSide(long n) => n / SpatialFactor;

    /// <summary>Video frames decoded from t latent frames.</summary>
    public long VideoFrames(long latentFrames) => TemporalFactor * (latentFrames - 1) + 1;

    /// <summary>Video pixels decoded from n latent pixels.</summary>
    public long VideoSide(long latentSide) => SpatialFactor * latentSide;

    /// <summary>Whether chunks after the first may hold n frames: a positive multiple of T.</summary>
    public bool IsValidChunkFrames(long n) => n >= TemporalFactor && n % TemporalFactor == 0;

    /// <summary>"4, 8 or 16" for T = 4: examples of valid chunk lengths for messages.</summary>
    public string ChunkExamples => $"{TemporalFactor}, {2 * TemporalFactor} or {4 * TemporalFactor}";

    /// <summary>"17 or 21" style: the nearest valid frame counts around t.</summary>
    public string NearestFrameCounts(long t)
    {
        long lo = TrimmedFrameCount(t), hi = PaddedFrameCount(t);
        return lo == hi || lo > t ? $"{hi}" : $"{lo} or {hi}";
    }

    /// <summary>"248 or 256" style: the nearest valid sides around n.</summary>
    public string NearestSides(long n)
    {
        long lo = TrimmedSide(n), hi = Math.Max(SpatialFactor, PaddedSide(n));
        return lo == hi ? $"{lo}" : $"{lo} or {hi}";
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the nearest valid sizes unless T, H, W are valid.</summary>
    public void Validate(long t, long h, long w, string what = "video")
    {
        var problems = new List<string>();
        if (!IsValidFrameCount(t))
            problems.Add($"{t} frames is not {FrameCountForm} (nearest valid: {NearestFrameCounts(t)})");
        foreach (var (name, n) in new[] { ("height", h), ("width", w) })
            if (!IsValidSide(n))
                problems.Add($"{name} {n} is not a multiple of {SpatialFactor} (nearest valid: {NearestSides(n)})");
        if (problems.Count > 0)
            throw new ArgumentException($"{what} of shape T={t}, H={h}, W={w} cannot be encoded: {string.Join("; ", problems)}. Resize or trim it, or use ShapePolicy.PadAndTrim to pad and trim automatically.");
    }

    /// <summary>Throws unless <paramref name="n"/> frames may form a chunk after the first.</summary>
    public void ValidateChunkFrames(long n, string what = "encode chunk size", string paramName = "chunkFrames")
    {
        if (!IsValidChunkFrames(n))
            throw new ArgumentOutOfRangeException(paramName, n, $"{what} {n} must be a positive multiple of {TemporalFactor} video frames (each {TemporalFactor} frames make one latent frame), e.g. {ChunkExamples}.");
    }
}
