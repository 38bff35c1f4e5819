namespace WfVae.Pipeline;

/// <summary>How the streaming pipeline cuts a video into Causal Cache chunks and how far it reads ahead.</summary>
public sealed record StreamingOptions
{
    /// <summary>
    /// Video frames per encode chunk after frame 0: a positive multiple of 4 (each 4 frames make one latent frame),
    /// or 0 for the whole video at once (the same latents; memory then grows with the length).
    /// </summary>
    public int EncodeChunkFrames { get; init; } = WfVaeModel.DefaultEncodeChunkFrames;
    /// <summary>Latent frames per decode call (≥ 1); each makes 4 video frames. 1 holds the least memory.</summary>
    public int DecodeChunkLatentFrames { get; init; } = WfVaeModel.DefaultDecodeChunkLatentFrames;
    /// <summary>Decoded frames the reader thread may hold ahead of the model.</summary>
    public int ReadAheadFrames { get; init; } = 32;
    /// <summary>Decode a posterior sample drawn with this seed (per chunk, chunk index mixed in) instead of the mean.</summary>
    public long? SampleSeed { get; init; }

    /// <summary>Frames per encode chunk after frame 0 as the chunker reads them.</summary>
    internal int ChunkFramesAfterFirst => EncodeChunkFrames == 0 ? int.MaxValue : EncodeChunkFrames;

    /// <summary>Throws naming the first invalid setting.</summary>
    public void Validate()
    {
        if (EncodeChunkFrames < 0 || EncodeChunkFrames % 4 != 0)
            throw new ArgumentOutOfRangeException(nameof(EncodeChunkFrames), EncodeChunkFrames, "encode chunks must be 0 (whole video) or a positive multiple of 4 video frames (e.g. 4, 8 or 16).");
        if (DecodeChunkLatentFrames < 1)
            throw new ArgumentOutOfRangeException(nameof(DecodeChunkLatentFrames), DecodeChunkLatentFrames, "decode chunks must hold at least 1 latent frame.");
        if (ReadAheadFrames < 1)
            throw new ArgumentOutOfRangeException(nameof(ReadAheadFrames), ReadAheadFrames, "the read-ahead must hold at least 1 frame.");
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
