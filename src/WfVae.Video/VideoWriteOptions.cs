namespace WfVae.Video;

/// <summary>Which video encoder an mp4 write uses.</summary>
public enum Mp4Encoder
{
    /// <summary>libx264 when the ffmpeg build has it, else mpeg4.</summary>
    Automatic,
    /// <summary>libx264 at CRF <see cref="VideoWriter.X264Crf"/>, full-resolution chroma (yuv444p); an error when ffmpeg lacks it.</summary>
    Libx264,
    /// <summary>mpeg4 at high quality (<c>-q:v 2</c>, yuv420p), which every ffmpeg build has.</summary>
    Mpeg4,
}

/// <summary>How <see cref="VideoWriter"/> encodes an mp4: the encoder and which ffmpeg.</summary>
public sealed record VideoWriteOptions
{
    /// <summary>libx264 when available, ffmpeg found as usual.</summary>
    public static VideoWriteOptions Default { get; } = new();

    /// <summary>The video encoder (default <see cref="Mp4Encoder.Automatic"/>).</summary>
    public Mp4Encoder Encoder { get; init; } = Mp4Encoder.Automatic;

    /// <summary>Folder holding ffmpeg for this write; wins over <c>WFVAE_FFMPEG_DIR</c> and FFMpegCore's options. Null: those, then PATH.</summary>
    public string? FfmpegFolder { get; init; }
}
