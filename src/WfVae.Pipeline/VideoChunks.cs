using TorchSharp;
using WfVae.Video;
using static TorchSharp.torch;

namespace WfVae.Pipeline;

/// <summary>One Causal Cache chunk of a video: model input (padded to valid sides) and the source frames it holds.</summary>
internal sealed class VideoChunk : IDisposable
{
    public required Tensor Video { get; init; }          // (1, 3, t, H8, W8), padding frames included
    public required List<byte[]> SourceFrames { get; init; } // the real frames of this chunk (no padding)
    public required long FirstFrame { get; init; }
    public required bool IsLast { get; init; }
    public void Dispose() => Video.Dispose();
}

/// <summary>
/// Cuts a video file into the Causal Cache schedule: frame 0 alone, then chunks of N frames; applies the padding
/// policy (last frame repeated up to 1 + Tk frames, rows and columns up to multiples of S, by the model's shape
/// rules) or refuses invalid shapes.
/// </summary>
internal sealed class VideoChunker
{
    private readonly int _chunkFrames;
    private readonly Func<CancellationToken, IEnumerable<byte[]>> _frames;

    /// <summary>Chunks of a file, decoded by ffmpeg on a reader thread at most <paramref name="readAheadFrames"/> ahead.</summary>
    public VideoChunker(VideoSource source, VideoShapeRules rules, int chunkFramesAfterFirst, int readAheadFrames)
        : this(source, VideoReader.Probe(source.Path), rules, chunkFramesAfterFirst,
            ct => ReadAhead.Buffered(t => VideoReader.ReadFramesRgb24(source.Path, source.ReadOptions, t), readAheadFrames, ct))
    {
    }

    /// <summary>Chunks of frames already decoded from <paramref name="source"/> (probed as <paramref name="info"/>).</summary>
    public VideoChunker(VideoSource source, VideoInfo info, VideoShapeRules rules, int chunkFramesAfterFirst, Func<CancellationToken, IEnumerable<byte[]>> frames)
    {
        ArgumentNullException.ThrowIfNull(source);
        Source = source;
        Rules = rules;
        _chunkFrames = chunkFramesAfterFirst;
        _frames = frames;
        Info = info;
        (Height, Width) = VideoReader.GetOutputSize(Info, source.ReadOptions);
        if (source.Policy == ShapePolicy.Strict && (!rules.IsValidSide(Height) || !rules.IsValidSide(Width)))
            throw new ArgumentException($"'{source.Path}': frames are {Width}x{Height}, but width and height must be multiples of {rules.SpatialFactor} " +
                $"(nearest valid: {rules.PaddedSide(Width)}x{rules.PaddedSide(Height)}); resize it or use ShapePolicy.PadAndTrim.");
    }

    public VideoSource Source { get; }
    public VideoShapeRules Rules { get; }
    public VideoInfo Info { get; }
    public int Height { get; }
    public int Width { get; }

    /// <summary>Frames the source will give, when the container says (after FrameStep and MaxFrames).</summary>
    public long? ExpectedFrames
    {
        get
        {
            if (Info.FrameCount <= 0) return Source.MaxFrames;
            long n = (Info.FrameCount + Source.FrameStep - 1) / Source.FrameStep;
            return Source.MaxFrames is int m ? Math.Min(m, n) : n;
        }
    }

    public IEnumerable<VideoChunk> Chunks(CancellationToken ct)
    {
        var frames = _frames(ct);
        var group = new List<byte[]>();
        List<byte[]>? ready = null;
        long first = 0, readyFirst = 0;
        int wanted = 1;
        foreach (var f in frames)
        {
            group.Add(f);
            if (group.Count < wanted) continue;
            if (ready is not null) yield return Make(ready, readyFirst, 0, isLast: false);
            (ready, readyFirst) = (group, first);
            first += group.Count;
            group = new List<byte[]>(Math.Min(_chunkFrames, 64));
            wanted = _chunkFrames;
        }
        if (group.Count > 0)
        {
            if (ready is not null) yield return Make(ready, readyFirst, 0, isLast: false);
            (ready, readyFirst) = (group, first);
            first += group.Count;
        }
        if (ready is null) throw new VideoIOException(Source.Path, "no frames were decoded.");

        // Padding frames (the last frame repeated): first up to a multiple of T in the last chunk, then whole chunks.
        long fill = TargetFrames(first) - first;
        int tf = Rules.TemporalFactor;
        long inLast = readyFirst == 0 ? 0 : Math.Min(fill, (tf - ready.Count % tf) % tf);
        var lastFrame = ready[^1];
        yield return Make(ready, readyFirst, inLast, isLast: fill == inLast);
        fill -= inLast;
        long step = Math.Min(_chunkFrames, 1L << 20);
        while (fill > 0)
        {
            long n = Math.Min(fill, step);
            fill -= n;
            yield return Make([], first, n, isLast: fill == 0, repeat: lastFrame);
        }
    }

    /// <summary>Frames the video is encoded with after padding, or an error naming the valid counts.</summary>
    private long TargetFrames(long read)
    {
        bool pad = Source.Policy == ShapePolicy.PadAndTrim;
        if (Source.ExactFrameCount && Source.MaxFrames is int max)
        {
            if (pad) return Rules.PaddedFrameCount(max);
            if (read < max)
                throw new ArgumentException($"'{Source.Path}' has only {read} frame(s) after Start/FrameStep, but MaxFrames = {max} and ShapePolicy.Strict needs exactly {max}; lower MaxFrames or use ShapePolicy.PadAndTrim to pad with the last frame.");
            return max;
        }
        if (pad) return Rules.PaddedFrameCount(read);
        if (!Rules.IsValidFrameCount(read))
            throw new ArgumentException($"'{Source.Path}' has {read} frames, which is not {Rules.FrameCountForm} (nearest valid: {Rules.NearestFrameCounts(read)}); set MaxFrames to a valid count or use ShapePolicy.PadAndTrim.");
        return read;
    }

    private VideoChunk Make(List<byte[]> frames, long firstFrame, long padFrames, bool isLast, byte[]? repeat = null)
    {
        using var scope = NewDisposeScope();
        var x = frames.Count > 0 ? FrameTensors.FromRgb24(frames, Height, Width) : null;
        if (padFrames > 0)
        {
            var last = x is not null ? x.narrow(2, x.shape[2] - 1, 1) : FrameTensors.FromRgb24([repeat!], Height, Width);
            var copies = last.expand(-1, -1, padFrames, -1, -1);
            x = x is null ? copies : cat([x, copies], 2);
        }
        long ph = Rules.PaddedSide(Height) - Height, pw = Rules.PaddedSide(Width) - Width;
        if (ph > 0 || pw > 0) x = nn.functional.pad(x!, [0, pw, 0, ph, 0, 0], PaddingModes.Replicate);
        return new VideoChunk { Video = scope.MoveToOuter(x!.contiguous()), SourceFrames = frames, FirstFrame = firstFrame, IsLast = isLast };
    }
}
