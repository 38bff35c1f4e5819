using WfVae.Video;

namespace WfVae.Pipeline;

/// <summary>A video file and how its frames are taken: size, frame window and what to do with invalid shapes.</summary>
public sealed record VideoSource
{
    /// <summary>The video file (anything ffmpeg reads).</summary>
    public required string Path { get; init; }
    /// <summary>Resize (scale and centre-crop) to this width; null keeps the native width.</summary>
    public int? Width { get; init; }
    /// <summary>Resize (scale and centre-crop) to this height; null keeps the native height.</summary>
    public int? Height { get; init; }
    /// <summary>Take every n-th frame.</summary>
    public int FrameStep { get; init; } = 1;
    /// <summary>Start time within the file; null starts at the first frame.</summary>
    public TimeSpan? Start { get; init; }
    /// <summary>Drop this many decoded frames first (frame-exact); the frame step counts from the first frame kept.</summary>
    public int? StartFrame { get; init; }
    /// <summary>Read at most this many frames; null reads to the end.</summary>
    public int? MaxFrames { get; init; }
    /// <summary>
    /// <see cref="ShapePolicy.PadAndTrim"/> (default) repeats the last frame, row and column up to T = 1 + 4k and
    /// sides that are multiples of 8, and trims them off after decoding; <see cref="ShapePolicy.Strict"/> refuses such videos.
    /// </summary>
    public ShapePolicy Policy { get; init; } = ShapePolicy.PadAndTrim;
    /// <summary>
    /// Make <see cref="MaxFrames"/> the exact frame count (e.g. a fixed-size column): a shorter video is padded with
    /// its last frame up to it under <see cref="ShapePolicy.PadAndTrim"/> and refused under <see cref="ShapePolicy.Strict"/>.
    /// </summary>
    public bool ExactFrameCount { get; init; }

    /// <summary>The reader options this source decodes with.</summary>
    public VideoReadOptions ReadOptions => new() { Width = Width, Height = Height, FrameStep = FrameStep, Start = Start, StartFrame = StartFrame, MaxFrames = MaxFrames };
}
