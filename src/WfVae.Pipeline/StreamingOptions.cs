namespace WfVae.Pipeline;

/// <summary>How the streaming pipeline cuts a video into Causal Cache chunks and how far it reads ahead.</summary>
public sealed record StreamingOptions
{
    /// <summary>
    /// Encode chunks after frame 0: <see cref="Chunking.Automatic"/> (default) uses the model's
    /// <see cref="WfVaeModel.DefaultEncodeChunkFrames"/> whatever the length; <see cref="Chunking.Of"/> N video frames,
    /// a positive multiple of the model's temporal compression (4 for the released models);
    /// <see cref="Chunking.Whole"/> the whole video at once (the same latents; memory then grows with the length).
    /// </summary>
    public Chunking EncodeChunking { get; init; } = Chunking.Automatic;
    /// <summary>Latent frames per decode call (≥ 1); each makes 4 video frames with the released models. 1 holds the least memory.</summary>
    public int DecodeChunkLatentFrames { get; init; } = WfVaeModel.DefaultDecodeChunkLatentFrames;
    /// <summary>
    /// Largest frame (width × height, after resizing) the pipeline encodes: whole-frame inference needs memory in
    /// proportion to it, so a 4000×4000 source is refused before it runs for minutes and fails to allocate. Default
    /// 2048 × 2048; resize with <see cref="VideoSource.Width"/>/<see cref="VideoSource.Height"/> or raise it.
    /// </summary>
    public long MaxFramePixels { get; init; } = 2048L * 2048;
    /// <summary>
    /// Largest frame the pipeline encodes when spatial tiling applies to it: the model's memory is then that of one
    /// tile and only the chunk's frame buffers grow with the frame. Default 8192 × 8192.
    /// </summary>
    public long MaxTiledFramePixels { get; init; } = 8192L * 8192;
    /// <summary>Spatial tiling of each video's encode and decode; null uses the model's <see cref="WfVaeInferenceOptions.Tiling"/>.</summary>
    public SpatialTiling? Tiling { get; init; }
    /// <summary>Decoded frames the reader thread may hold ahead of the model.</summary>
    public int ReadAheadFrames { get; init; } = 32;
    /// <summary>Decode a posterior sample drawn with this seed (per chunk, chunk index mixed in) instead of the mean.</summary>
    public long? SampleSeed { get; init; }

    /// <summary>Video frames per encode chunk after frame 0 for <paramref name="model"/> (int.MaxValue for the whole video).</summary>
    /// <summary>The tiling in force for <paramref name="model"/>: <see cref="Tiling"/>, else the model's.</summary>
    public SpatialTiling TilingFor(WfVaeModel model) => Tiling ?? model.Inference.Tiling;

    public int ChunkFramesAfterFirst(WfVaeModel model) => EncodeChunking.Mode switch
    {
        ChunkingMode.Whole => int.MaxValue,
        ChunkingMode.Frames => EncodeChunking.Frames,
        _ => model.DefaultEncodeChunkFrames,
    };

    /// <summary>Throws naming the first invalid setting for <paramref name="model"/>.</summary>
    public void Validate(WfVaeModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (EncodeChunking.Mode == ChunkingMode.Frames)
            model.ShapeRules.ValidateChunkFrames(EncodeChunking.Frames, "StreamingOptions.EncodeChunking", nameof(EncodeChunking));
        if (DecodeChunkLatentFrames < 1)
            throw new ArgumentOutOfRangeException(nameof(DecodeChunkLatentFrames), DecodeChunkLatentFrames, "decode chunks must hold at least 1 latent frame.");
        if (ReadAheadFrames < 1)
            throw new ArgumentOutOfRangeException(nameof(ReadAheadFrames), ReadAheadFrames, "the read-ahead must hold at least 1 frame.");
        if (MaxFramePixels < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxFramePixels), MaxFramePixels, "the frame-size limit must be at least 1 pixel.");
        if (MaxTiledFramePixels < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxTiledFramePixels), MaxTiledFramePixels, "the tiled frame-size limit must be at least 1 pixel.");
        Tiling?.Validated(model.ShapeRules.SpatialFactor, "StreamingOptions.Tiling");
    }
}

/// <summary>Progress of a streaming job: frames finished so far and the rate.</summary>
/// <param name="Stage">"encode", "decode" or "reconstruct".</param>
/// <param name="FramesDone">Video frames finished (encoded, or decoded and written).</param>
/// <param name="FramesTotal">Frames expected in all, when known.</param>
/// <param name="Elapsed">Time since the job started.</param>
public sealed record StreamingProgress(string Stage, long FramesDone, long? FramesTotal, TimeSpan Elapsed)
{
    /// <summary>Frames per second so far.</summary>
    public double FramesPerSecond => Elapsed.TotalSeconds > 0 ? FramesDone / Elapsed.TotalSeconds : 0;
}
