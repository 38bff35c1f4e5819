namespace WfVae;

/// <summary>How a video is cut into Causal Cache chunks: the whole video in one call, automatic, or N frames per chunk.</summary>
public readonly record struct Chunking
{
    private Chunking(ChunkingMode mode, int frames) { Mode = mode; Frames = frames; }

    /// <summary>Which of the three this is.</summary>
    public ChunkingMode Mode { get; }
    /// <summary>Frames per chunk after frame 0 for <see cref="ChunkingMode.Frames"/> (video frames to encode, latent frames to decode); 0 otherwise.</summary>
    public int Frames { get; }

    /// <summary>The whole video in one call.</summary>
    public static Chunking Whole { get; } = new(ChunkingMode.Whole, 0);
    /// <summary>Whole for short videos, chunks of the model's default size for longer ones (memory of one chunk).</summary>
    public static Chunking Automatic { get; } = new(ChunkingMode.Automatic, 0);
    /// <summary><paramref name="frames"/> frames per chunk after frame 0 (≥ 1).</summary>
    public static Chunking Of(int frames) =>
        frames >= 1 ? new(ChunkingMode.Frames, frames) : throw new ArgumentOutOfRangeException(nameof(frames), frames, "a chunk holds at least 1 frame (encode chunks: a positive multiple of the model's temporal compression, a multiple of 4 video frames for the released models); use Chunking.Whole for the whole video.");

    /// <summary><paramref name="frames"/> frames per chunk (so callers may pass a plain count).</summary>
    public static implicit operator Chunking(int frames) => Of(frames);

    /// <summary>Maps the command-line convention: null = automatic, 0 = whole, N = N frames.</summary>
    public static Chunking FromCount(int? frames) => frames switch
    {
        null => Automatic,
        0 => Whole,
        < 0 => throw new ArgumentOutOfRangeException(nameof(frames), frames, "chunk size must be 0 (whole video) or positive."),
        int n => Of(n),
    };

    public override string ToString() => Mode switch
    {
        ChunkingMode.Whole => "whole",
        ChunkingMode.Automatic => "automatic",
        _ => Frames.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}

/// <summary>The three kinds of <see cref="Chunking"/>.</summary>
public enum ChunkingMode
{
    /// <summary>Chunked only when the video is long.</summary>
    Automatic,
    /// <summary>One call for the whole video.</summary>
    Whole,
    /// <summary>A fixed number of frames per chunk.</summary>
    Frames,
}

/// <summary>Memory layout of conv inputs.</summary>
public enum ConvLayout
{
    /// <summary>Channels-last for bf16 activations, contiguous (N, C, T, H, W) for fp32 (faster on AVX-512 in docs/bench.md).</summary>
    Auto,
    /// <summary>Always channels-last (N, T, H, W, C in memory).</summary>
    ChannelsLast,
    /// <summary>Always contiguous (N, C, T, H, W).</summary>
    Contiguous,
}

/// <summary>
/// How inference runs: chunking and the kernel choices that are exact up to summation order. Immutable; pass it to
/// <see cref="WfVaeModel.Load"/>/<see cref="WfVaeModel.Create"/> or set it with <see cref="WfVaeModel.WithInference"/>.
/// Modules read nothing else: no environment variables, no process-wide switches.
/// </summary>
public sealed record WfVaeInferenceOptions
{
    /// <summary>The defaults: automatic chunking, every fast kernel on.</summary>
    public static WfVaeInferenceOptions Default { get; } = new();

    /// <summary>Chunking of <see cref="WfVaeModel.Encode"/> (video frames; multiples of 4).</summary>
    public Chunking EncodeChunking { get; init; } = Chunking.Automatic;
    /// <summary>Chunking of <see cref="WfVaeModel.Decode"/> (latent frames).</summary>
    public Chunking DecodeChunking { get; init; } = Chunking.Automatic;
    /// <summary>Winograd F(2×2|4×4, 3×3) for wide 3×3×3 convs (CPU fp32).</summary>
    public bool Winograd { get; init; } = true;
    /// <summary>Force Winograd's output tile (2 or 4) instead of choosing by frame size; null chooses.</summary>
    public int? WinogradTile { get; init; }
    /// <summary>Elements of one frame's input transform before Winograd splits a frame into bands of tile rows.</summary>
    public long WinogradBandElements { get; init; } = 4L << 20;
    /// <summary>Fewest tiles per band (keeps the matrix products wide).</summary>
    public long WinogradBandMinTiles { get; init; } = 256;
    /// <summary>Fold the replicated first-chunk padding frames into the kernel instead of convolving copies.</summary>
    public bool FoldReplicatedFrames { get; init; } = true;
    /// <summary>Nearest ×2 upsampling + 3×3 conv as four 2×2 sub-pixel convs (4/9 of the work).</summary>
    public bool SubPixelUpsample { get; init; } = true;
    /// <summary>Memory layout of conv inputs.</summary>
    public ConvLayout ConvLayout { get; init; } = ConvLayout.Auto;
    /// <summary>Most attention scores held at once: the mid attention runs in blocks of query rows below it (same result, bounded memory).</summary>
    public long AttentionScoreElements { get; init; } = 16L << 20;
    /// <summary>Spatial tiling of encode and decode (off by default); a cache made with its own tiling overrides it for that video.</summary>
    public SpatialTiling Tiling { get; init; } = SpatialTiling.Off;

    /// <summary>Throws naming the first invalid setting.</summary>
    public WfVaeInferenceOptions Validated()
    {
        if (WinogradTile is not (null or 2 or 4))
            throw new ArgumentOutOfRangeException(nameof(WinogradTile), WinogradTile, "the Winograd tile is 2 or 4 (or null to choose by frame size).");
        if (WinogradBandElements < 1 || WinogradBandMinTiles < 1)
            throw new ArgumentOutOfRangeException(nameof(WinogradBandElements), "Winograd band limits must be positive.");
        ArgumentNullException.ThrowIfNull(Tiling, nameof(Tiling));
        if (AttentionScoreElements < 1)
            throw new ArgumentOutOfRangeException(nameof(AttentionScoreElements), AttentionScoreElements, "the attention score block must hold at least 1 element (default 16M).");
        return this;
    }
}
