namespace WfVae;

/// <summary>What to do with a video whose frame count or size the model cannot take as is.</summary>
public enum ShapePolicy
{
    /// <summary>Reject it with an error naming the nearest valid sizes (default).</summary>
    Strict,
    /// <summary>Repeat the last frame up to 1 + 4k frames and the last row/column up to multiples of 8; trim after decode.</summary>
    PadAndTrim,
}

/// <summary>The frame-count and size rules of the 4×8×8 WF-VAE, with messages that name valid sizes.</summary>
public static class VideoShapeRules
{
    /// <summary>Whether T = 1 + 4k.</summary>
    public static bool IsValidFrameCount(long t) => t >= 1 && (t - 1) % 4 == 0;

    /// <summary>Smallest valid frame count ≥ t.</summary>
    public static long PaddedFrameCount(long t) => t <= 1 ? 1 : 1 + (t - 1 + 3) / 4 * 4;

    /// <summary>Smallest valid frame count ≥ t (t itself when valid).</summary>
    public static long PadFrameCountOrSelf(long t) => IsValidFrameCount(t) ? t : PaddedFrameCount(t);

    /// <summary>Smallest multiple of 8 ≥ n.</summary>
    public static long PaddedSide(long n) => (n + 7) / 8 * 8;

    /// <summary>Latent frames for a valid T.</summary>
    public static long LatentFrames(long t) => (t - 1) / 4 + 1;

    /// <summary>Video frames decoded from t latent frames.</summary>
    public static long VideoFrames(long latentFrames) => 4 * (latentFrames - 1) + 1;

    /// <summary>Throws <see cref="ArgumentException"/> naming the nearest valid sizes unless T, H, W are valid.</summary>
    public static void Validate(long t, long h, long w, string what = "video")
    {
        var problems = new List<string>();
        if (!IsValidFrameCount(t))
        {
            long lo = t < 1 ? 1 : 1 + (t - 1) / 4 * 4, hi = PaddedFrameCount(t);
            problems.Add($"{t} frames is not 1 + 4k (nearest valid: {(lo == hi ? $"{lo}" : $"{lo} or {hi}")})");
        }
        foreach (var (name, n) in new[] { ("height", h), ("width", w) })
            if (n < 8 || n % 8 != 0)
            {
                long lo = Math.Max(8, n / 8 * 8), hi = Math.Max(8, PaddedSide(n));
                problems.Add($"{name} {n} is not a multiple of 8 (nearest valid: {(lo == hi ? $"{lo}" : $"{lo} or {hi}")})");
            }
        if (problems.Count > 0)
            throw new ArgumentException($"{what} of shape T={t}, H={h}, W={w} cannot be encoded: {string.Join("; ", problems)}. Resize or trim it, or use ShapePolicy.PadAndTrim to pad and trim automatically.");
    }
}
