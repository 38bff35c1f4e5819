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
/// policy (last frame repeated up to a multiple of 4, rows and columns up to multiples of 8) or refuses invalid shapes.
/// </summary>
internal sealed class VideoChunker
{
    public VideoChunker(VideoSource source, StreamingOptions options)
    {
        ArgumentNullException.ThrowIfNull(source);
        options.Validate();
        Source = source;
        Options = options;
        Info = VideoReader.Probe(source.Path);
        (Height, Width) = VideoReader.GetOutputSize(Info, source.ReadOptions);
        if (source.Policy == ShapePolicy.Strict && (Height % 8 != 0 || Width % 8 != 0))
            throw new ArgumentException($"'{source.Path}': frames are {Width}x{Height}, but width and height must be multiples of 8 " +
                $"(nearest valid: {VideoShapeRules.PaddedSide(Width)}x{VideoShapeRules.PaddedSide(Height)}); resize it or use ShapePolicy.PadAndTrim.");
    }

    public VideoSource Source { get; }
    public StreamingOptions Options { get; }
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
        var frames = ReadAhead.Buffered(t => VideoReader.ReadFramesRgb24(Source.Path, Source.ReadOptions, t), Options.ReadAheadFrames, ct);
        var group = new List<byte[]>();
        List<byte[]>? ready = null;
        long first = 0, readyFirst = 0;
        int wanted = 1;
        foreach (var f in frames)
        {
            group.Add(f);
            if (group.Count < wanted) continue;
            if (ready is not null) yield return Make(ready, readyFirst, isLast: false, totalFrames: -1);
            ready = group;
            readyFirst = first;
            first += group.Count;
            group = new List<byte[]>(Math.Min(Options.ChunkFramesAfterFirst, 64));
            wanted = Options.ChunkFramesAfterFirst;
        }
        if (group.Count > 0)
        {
            if (ready is not null) yield return Make(ready, readyFirst, isLast: false, totalFrames: -1);
            ready = group;
            readyFirst = first;
            first += group.Count;
        }
        if (ready is null) throw new VideoIOException(Source.Path, "no frames were decoded.");
        yield return Make(ready, readyFirst, isLast: true, totalFrames: first);
    }

    private VideoChunk Make(List<byte[]> frames, long firstFrame, bool isLast, long totalFrames)
    {
        using var scope = NewDisposeScope();
        var x = FrameTensors.FromRgb24(frames, Height, Width);
        long ph = VideoShapeRules.PaddedSide(Height) - Height, pw = VideoShapeRules.PaddedSide(Width) - Width;
        if (ph > 0 || pw > 0) x = nn.functional.pad(x, [0, pw, 0, ph, 0, 0], PaddingModes.Replicate);
        if (isLast && !VideoShapeRules.IsValidFrameCount(totalFrames))
        {
            if (Source.Policy == ShapePolicy.Strict)
                throw new ArgumentException($"'{Source.Path}' has {totalFrames} frames, which is not 1 + 4k (nearest valid: {VideoShapeRules.PaddedFrameCount(totalFrames) - 4} or {VideoShapeRules.PaddedFrameCount(totalFrames)}); set MaxFrames to a valid count or use ShapePolicy.PadAndTrim.");
            long fill = VideoShapeRules.PaddedFrameCount(totalFrames) - totalFrames;
            var last = x.narrow(2, x.shape[2] - 1, 1);
            x = cat([x, last.expand(-1, -1, fill, -1, -1)], 2);
        }
        return new VideoChunk { Video = scope.MoveToOuter(x.contiguous()), SourceFrames = frames, FirstFrame = firstFrame, IsLast = isLast };
    }
}
