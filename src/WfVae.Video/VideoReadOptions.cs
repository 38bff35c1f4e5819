namespace WfVae.Video;

/// <summary>
/// How to decode a video: target size (cover-scale then centre-crop), frame step, start time, frame limit and which ffmpeg.
/// All values are checked by <see cref="Validate"/>, which every reader method calls.
/// </summary>
public sealed record VideoReadOptions
{
    /// <summary>Largest accepted target width or height.</summary>
    public const int MaxDimension = 16384;

    /// <summary>Options that decode every frame at the native size.</summary>
    public static VideoReadOptions Default { get; } = new();

    /// <summary>
    /// Target width. When <see cref="Width"/> or <see cref="Height"/> is set, each frame is scaled (keeping its aspect ratio)
    /// so that it covers the target size and is then centre-cropped to exactly that size. A null side uses the source size;
    /// both null keeps the native size.
    /// </summary>
    public int? Width { get; init; }

    /// <summary>Target height; see <see cref="Width"/>.</summary>
    public int? Height { get; init; }

    /// <summary>Keep every n-th decoded frame (1 keeps all). Counted from the first frame at or after <see cref="Start"/> / <see cref="StartFrame"/>.</summary>
    public int FrameStep { get; init; } = 1;

    /// <summary>Skip to this time (frames with an earlier timestamp are dropped). Null starts at the beginning.</summary>
    public TimeSpan? Start { get; init; }

    /// <summary>
    /// Drop the first n decoded frames (frame-exact, counted after <see cref="Start"/>); the frame step counts from
    /// the first frame kept. Null or 0 keeps them.
    /// </summary>
    public int? StartFrame { get; init; }

    /// <summary>Stop after this many frames have been produced (after <see cref="FrameStep"/>). Null reads to the end.</summary>
    public int? MaxFrames { get; init; }

    /// <summary>
    /// Folder holding ffmpeg and ffprobe for this read; wins over the <c>WFVAE_FFMPEG_DIR</c> variable and FFMpegCore's
    /// <c>GlobalFFOptions.BinaryFolder</c>. Null: those, then PATH.
    /// </summary>
    public string? FfmpegFolder { get; init; }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first invalid field and its valid range.</summary>
    public void Validate()
    {
        if (Width is { } w && (w < 1 || w > MaxDimension))
            throw new ArgumentOutOfRangeException(nameof(Width), w, $"VideoReadOptions.Width must be null or in [1, {MaxDimension}].");
        if (Height is { } h && (h < 1 || h > MaxDimension))
            throw new ArgumentOutOfRangeException(nameof(Height), h, $"VideoReadOptions.Height must be null or in [1, {MaxDimension}].");
        if (FrameStep < 1)
            throw new ArgumentOutOfRangeException(nameof(FrameStep), FrameStep, "VideoReadOptions.FrameStep must be >= 1 (1 keeps every frame).");
        if (Start is { } s && s < TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(Start), s, "VideoReadOptions.Start must be null or >= 00:00:00.");
        if (StartFrame is { } sf && sf < 0)
            throw new ArgumentOutOfRangeException(nameof(StartFrame), sf, "VideoReadOptions.StartFrame must be null or >= 0.");
        if (MaxFrames is { } m && m < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxFrames), m, "VideoReadOptions.MaxFrames must be null or >= 1.");
    }
}
