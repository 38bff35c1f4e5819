using System.Diagnostics;
using WfVae.Metrics;
using WfVae.Video;
using static TorchSharp.torch;

namespace WfVae.Pipeline;

/// <summary>Latents of one encoded video, with the source size they trim back to.</summary>
public sealed class EncodedVideo : IDisposable
{
    internal EncodedVideo(Tensor mean, Tensor logVar, long frames, int height, int width, double frameRate)
    {
        Posterior = new LatentDistribution(mean, logVar);
        SourceFrames = frames;
        SourceHeight = height;
        SourceWidth = width;
        FrameRate = frameRate;
    }

    /// <summary>The posterior (1, z, t, h, w): mean, log-variance, samples.</summary>
    public LatentDistribution Posterior { get; }
    /// <summary>Frames read from the source (before padding to 1 + 4k).</summary>
    public long SourceFrames { get; }
    /// <summary>Frame height before padding to a multiple of 8.</summary>
    public int SourceHeight { get; }
    /// <summary>Frame width before padding to a multiple of 8.</summary>
    public int SourceWidth { get; }
    /// <summary>Frame rate of the source (0 when unknown).</summary>
    public double FrameRate { get; }

    public void Dispose() => Posterior.Dispose();
}

/// <summary>One clip of <see cref="VideoPipeline.EncodeClips"/>: its latents, or why it has none.</summary>
/// <param name="Source">The clip.</param>
/// <param name="Encoded">Its posterior (owned by the caller), or null when it failed.</param>
/// <param name="Error">Why it failed (unreadable, too short, invalid shape...), or null.</param>
/// <param name="Info">The probed source, or null when it could not be probed.</param>
public sealed record ClipEncoding(VideoSource Source, EncodedVideo? Encoded, Exception? Error, VideoInfo? Info);

/// <summary>What <see cref="VideoPipeline.Reconstruct"/> measured.</summary>
/// <param name="Frames">Frames written.</param>
/// <param name="Height">Frame height.</param>
/// <param name="Width">Frame width.</param>
/// <param name="PsnrPerFrame">PSNR of each frame against the source (dB; +∞ for an exact frame).</param>
/// <param name="SsimPerFrame">SSIM of each frame, or null when frames are smaller than the SSIM window.</param>
/// <param name="Elapsed">Wall time of the whole job (read, encode, decode, write).</param>
public sealed record ReconstructionResult(long Frames, int Height, int Width, double[] PsnrPerFrame, double[]? SsimPerFrame, TimeSpan Elapsed)
{
    /// <summary>Mean PSNR over frames (<see cref="VideoMetrics.IdenticalPsnr"/> when infinite), as <see cref="VideoMetrics.Psnr"/>.</summary>
    public double Psnr => PsnrPerFrame.Average() is var m && double.IsPositiveInfinity(m) ? VideoMetrics.IdenticalPsnr : m;
    /// <summary>Mean SSIM over frames, or NaN when not measured.</summary>
    public double Ssim => SsimPerFrame is { Length: > 0 } s ? s.Average() : double.NaN;
}

/// <summary>
/// The one streaming path between video files and WF-VAE latents. Frames are decoded by ffmpeg on a reader thread
/// (bounded read-ahead), cut into the Causal Cache schedule, padded by the source's policy and encoded chunk by
/// chunk; decoding streams latent chunks back to frames and straight into the mp4 writer. Memory stays that of one
/// chunk, whatever the video's length. Thread-safe: each call has its own caches.
/// </summary>
public sealed class VideoPipeline
{
    private readonly WfVaeModel _model;

    /// <param name="model">The model (not owned).</param>
    /// <param name="options">Chunking and read-ahead; null for the defaults.</param>
    public VideoPipeline(WfVaeModel model, StreamingOptions? options = null)
    {
        _model = model ?? throw new ArgumentNullException(nameof(model));
        Options = options ?? new StreamingOptions();
        Options.Validate(_model);
    }

    /// <summary>Chunking and read-ahead in force.</summary>
    public StreamingOptions Options { get; }

    /// <summary>Encodes a video file to its posterior, chunk by chunk (same latents as whole-video encoding).</summary>
    public EncodedVideo Encode(VideoSource source, IProgress<StreamingProgress>? progress = null, CancellationToken ct = default) =>
        EncodeChunks(NewChunker(source), progress, ct);

    /// <summary>
    /// Encodes many short clips in order, decoding the next <paramref name="prefetchClips"/> clips on a reader thread
    /// while the model encodes the current one. A clip that cannot be read or encoded yields a result holding its
    /// error, and the rest go on; cancellation stops everything. Dispose each result's latents.
    /// </summary>
    public IEnumerable<ClipEncoding> EncodeClips(IEnumerable<VideoSource> sources, int prefetchClips = 2, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentOutOfRangeException.ThrowIfLessThan(prefetchClips, 1);
        foreach (var clip in ReadAhead.Buffered(t => DecodeClips(sources, t), prefetchClips, ct))
        {
            if (clip.Error is not null)
            {
                yield return new ClipEncoding(clip.Source, null, clip.Error, clip.Info);
                continue;
            }
            EncodedVideo? encoded = null;
            Exception? error = null;
            try
            {
                var chunker = CheckFrameSize(new VideoChunker(clip.Source, clip.Info!, _model.ShapeRules, Options.ChunkFramesAfterFirst(_model), _ => clip.Frames!));
                encoded = EncodeChunks(chunker, null, ct);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                error = e;
            }
            yield return new ClipEncoding(clip.Source, encoded, error, clip.Info);
        }
    }

    private sealed record DecodedClip(VideoSource Source, VideoInfo? Info, IReadOnlyList<byte[]>? Frames, Exception? Error);

    private static IEnumerable<DecodedClip> DecodeClips(IEnumerable<VideoSource> sources, CancellationToken ct)
    {
        foreach (var source in sources)
        {
            ct.ThrowIfCancellationRequested();
            DecodedClip clip;
            VideoInfo? info = null;
            try
            {
                info = VideoReader.Probe(source.Path);
                clip = new DecodedClip(source, info, VideoReader.ReadAllRgb24(source.Path, source.ReadOptions, ct).Frames, null);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                clip = new DecodedClip(source, info, null, e);
            }
            yield return clip;
        }
    }

    private EncodedVideo EncodeChunks(VideoChunker chunker, IProgress<StreamingProgress>? progress, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        using var scope = NewDisposeScope();
        using var cache = _model.CreateEncoderCache(Options.TilingFor(_model));
        var means = new List<Tensor>();
        var logVars = new List<Tensor>();
        long frames = 0;
        foreach (var chunk in chunker.Chunks(ct))
        {
            using (chunk)
            using (var s = NewDisposeScope())
            {
                var d = _model.EncodeChunk(chunk.Video, cache);
                means.Add(d.Mean.MoveToOtherDisposeScope(scope));
                logVars.Add(d.LogVar.MoveToOtherDisposeScope(scope));
                frames = chunk.FirstFrame + chunk.SourceFrames.Count;
            }
            progress?.Report(new StreamingProgress("encode", frames, chunker.ExpectedFrames, clock.Elapsed));
        }
        var mean = cat(means, 2).DetachFromDisposeScope();
        var logVar = cat(logVars, 2).DetachFromDisposeScope();
        return new EncodedVideo(mean, logVar, frames, chunker.Height, chunker.Width, chunker.Info.FrameRate);
    }

    /// <summary>
    /// Decodes latents (1, z, t, h, w) chunk by chunk into an mp4, trimmed to <paramref name="frames"/> ×
    /// <paramref name="height"/> × <paramref name="width"/> when given; no whole video is held in memory.
    /// Returns the number of frames written.
    /// </summary>
    public long DecodeToMp4(Tensor latent, string outputPath, double fps, long? frames = null, int? height = null, int? width = null,
        IProgress<StreamingProgress>? progress = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(latent);
        if (latent.dim() != 5 || latent.shape[0] != 1)
            throw new ArgumentException($"an mp4 holds one video: the latent must be (1, z, t, h, w), got [{string.Join(",", latent.shape)}].", nameof(latent));
        if (latent.shape[2] < 1) throw new ArgumentException($"the latent [{string.Join(",", latent.shape)}] has no frames (t = 0); there is nothing to decode.", nameof(latent));
        VideoWriter.CheckFrameRate(fps);
        CheckOutputPath(outputPath, "output video");
        long total = Math.Min(frames ?? long.MaxValue, _model.ShapeRules.VideoFrames(latent.shape[2]));
        int h = height ?? (int)_model.ShapeRules.VideoSide(latent.shape[3]), w = width ?? (int)_model.ShapeRules.VideoSide(latent.shape[4]);
        var clock = Stopwatch.StartNew();
        long written = 0;
        IEnumerable<byte[]> Frames()
        {
            using var cache = _model.CreateDecoderCache(Options.TilingFor(_model));
            long t = latent.shape[2], done = 0;
            foreach (var (start, len) in DecodePieces(t))
            {
                ct.ThrowIfCancellationRequested();
                byte[][] rgb;
                using (var s = NewDisposeScope())
                {
                    using var z = latent.narrow(2, start, len);
                    var video = _model.DecodeChunk(z, cache, start + len == t);
                    long keep = Math.Min(video.shape[2], total - done);
                    if (keep <= 0) continue;
                    rgb = FrameTensors.ToRgb24(WfVaeModel.Trim(video.narrow(2, 0, keep), keep, h, w), done);
                }
                foreach (var f in rgb) { done++; written++; yield return f; }
                progress?.Report(new StreamingProgress("decode", done, total, clock.Elapsed));
            }
        }
        VideoWriter.WriteMp4(outputPath, Frames(), h, w, fps);
        return written;
    }

    /// <summary>
    /// Reads, encodes, decodes and writes a video in one stream (the latents never wait for the whole video), with
    /// PSNR and SSIM accumulated frame by frame against the source. Optionally writes a strip of evenly spaced
    /// source-over-reconstruction frames, and a <paramref name="report"/> drawn from the results. Peak memory is that
    /// of one chunk, whatever the length.
    /// </summary>
    public ReconstructionResult Reconstruct(VideoSource source, string outputPath, double? fps = null, string? stripPath = null,
        IProgress<StreamingProgress>? progress = null, CancellationToken ct = default, ReconstructionReport? report = null)
    {
        if (fps is double given) VideoWriter.CheckFrameRate(given);
        CheckOutputPath(outputPath, "output video");
        if (stripPath is not null) CheckOutputPath(stripPath, "strip image");
        if (report is not null) CheckOutputPath(report.Path, "report image");
        var chunker = NewChunker(source);
        int h = chunker.Height, w = chunker.Width;
        double rate = fps ?? (chunker.Info.FrameRate > 0 ? chunker.Info.FrameRate : 8);
        bool ssim = h >= VideoMetrics.SsimWindow && w >= VideoMetrics.SsimWindow;
        var psnr = new List<double>();
        var ssims = new List<double>();
        var strip = new StripSampler(8);
        var clock = Stopwatch.StartNew();

        IEnumerable<byte[]> Frames()
        {
            using var encCache = _model.CreateEncoderCache(Options.TilingFor(_model));
            using var decCache = _model.CreateDecoderCache(Options.TilingFor(_model));
            var originals = new Queue<byte[]>();
            long done = 0, real = 0;
            int chunkIndex = 0;
            foreach (var chunk in chunker.Chunks(ct))
            {
                using var owned = chunk;
                foreach (var f in chunk.SourceFrames) originals.Enqueue(f);
                real = chunk.FirstFrame + chunk.SourceFrames.Count;
                Tensor z;
                using (var d = _model.EncodeChunk(chunk.Video, encCache))
                    z = Options.SampleSeed is long seed ? d.Sample(seed + 7919L * chunkIndex) : d.Mean.alias();
                using var zOwned = z;
                chunkIndex++;
                var pieces = DecodePieces(z.shape[2], fromStart: false).ToList();
                for (int i = 0; i < pieces.Count; i++)
                {
                    ct.ThrowIfCancellationRequested();
                    byte[][] rgb;
                    using (var s = NewDisposeScope())
                    {
                        var piece = z.narrow(2, pieces[i].Start, pieces[i].Length);
                        var video = _model.DecodeChunk(piece, decCache, chunk.IsLast && i == pieces.Count - 1);
                        // Frames past the source's end are the padding (repeated last frame): cut, like the sides.
                        long keep = Math.Min(video.shape[2], real - done);
                        if (keep <= 0) continue;
                        var recon = WfVaeModel.Trim(video.narrow(2, 0, keep), keep, h, w);
                        rgb = FrameTensors.ToRgb24(recon, done);
                        var src = new List<byte[]>();
                        for (long k = 0; k < keep; k++) src.Add(originals.Dequeue());
                        var reference = FrameTensors.FromRgb24(src, h, w);
                        var clamped = recon.clamp(-1.0, 1.0);
                        psnr.AddRange(VideoMetrics.PsnrPerFrame(reference, clamped));
                        if (ssim) ssims.AddRange(VideoMetrics.SsimPerFrame(reference, clamped));
                        for (int k = 0; k < rgb.Length; k++) strip.Offer(done + k, src[k], rgb[k]);
                    }
                    foreach (var f in rgb) { done++; yield return f; }
                    progress?.Report(new StreamingProgress("reconstruct", done, chunker.ExpectedFrames, clock.Elapsed));
                }
            }
        }

        VideoWriter.WriteMp4(outputPath, Frames(), h, w, rate);
        var result = new ReconstructionResult(psnr.Count, h, w, [.. psnr], ssim ? [.. ssims] : null, clock.Elapsed);
        var written = new List<string> { outputPath };
        try
        {
            if (stripPath is not null)
            {
                strip.Write(stripPath, h, w);
                written.Add(stripPath);
            }
            if (report is not null)
            {
                ct.ThrowIfCancellationRequested();
                report.Write(report.Path, result, strip.Picks());
            }
        }
        catch
        {
            // The job failed: leave no half of its output behind.
            foreach (var file in written)
                try { File.Delete(file); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
        return result;
    }

    /// <summary>Decode calls over t latent frames: frame 0 alone (the causal first chunk), then pieces of the configured size.</summary>
    private IEnumerable<(long Start, long Length)> DecodePieces(long t, bool fromStart = true)
    {
        long step = Options.DecodeChunkLatentFrames;
        if (!fromStart)
        {
            for (long s = 0; s < t; s += step) yield return (s, Math.Min(step, t - s));
            yield break;
        }
        foreach (var piece in WfVaeModel.ChunkSchedule(t, step)) yield return piece;
    }

    private VideoChunker NewChunker(VideoSource source) =>
        CheckFrameSize(new(source, _model.ShapeRules, Options.ChunkFramesAfterFirst(_model), Options.ReadAheadFrames));

    private VideoChunker CheckFrameSize(VideoChunker chunker)
    {
        long pixels = (long)chunker.Width * chunker.Height;
        var tiling = Options.TilingFor(_model);
        if (tiling.Applies(_model.ShapeRules.PaddedSide(chunker.Height), _model.ShapeRules.PaddedSide(chunker.Width)))
        {
            if (pixels > Options.MaxTiledFramePixels)
                throw new ArgumentException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                    $"'{chunker.Source.Path}': frames of {chunker.Width}x{chunker.Height} ({pixels / 1e6:F1} MP) are above StreamingOptions.MaxTiledFramePixels ({Options.MaxTiledFramePixels / 1e6:F1} MP), which tiled inference's frame buffers need memory in proportion to; resize them (VideoSource.Width/Height) or raise the limit."));
        }
        else if (pixels > Options.MaxFramePixels)
            throw new ArgumentException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"'{chunker.Source.Path}': frames of {chunker.Width}x{chunker.Height} ({pixels / 1e6:F1} MP) are above StreamingOptions.MaxFramePixels ({Options.MaxFramePixels / 1e6:F1} MP), which whole-frame inference needs memory in proportion to; resize them (VideoSource.Width/Height), turn on spatial tiling (StreamingOptions.Tiling, CLI --tile) or raise the limit."));
        return chunker;
    }

    /// <summary>Before any work: the output folder can be made and the path is not a folder.</summary>
    private static void CheckOutputPath(string path, string what)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path, what);
        if (Directory.Exists(path)) throw new IOException($"the {what} '{Path.GetFullPath(path)}' is a folder; give a file name.");
        CreateParentFolder(path);
    }

    private static void CreateParentFolder(string path)
    {
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
    }
}
