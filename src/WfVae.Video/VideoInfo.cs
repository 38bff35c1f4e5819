namespace WfVae.Video;

/// <summary>Basic facts about the primary video stream of a file, as reported by ffprobe.</summary>
/// <param name="Path">Full path of the probed file.</param>
/// <param name="Width">Displayed frame width in pixels (after applying a 90/270 degree rotation tag, as ffmpeg does when decoding).</param>
/// <param name="Height">Displayed frame height in pixels (after rotation).</param>
/// <param name="FrameRate">Average frame rate in frames per second (the nominal rate if no average is known; 0 if unknown).</param>
/// <param name="FrameCount">Number of frames: the container's <c>nb_frames</c>, else the counted packets, else duration × frame rate.</param>
/// <param name="Duration">Duration of the video stream (the container's duration if the stream has none).</param>
public sealed record VideoInfo(string Path, int Width, int Height, double FrameRate, int FrameCount, TimeSpan Duration);

/// <summary>A whole decoded clip: packed rgb24 frames (H·W·3 bytes each, row-major) and their size.</summary>
/// <param name="Frames">The frames, in order.</param>
/// <param name="Height">Frame height H.</param>
/// <param name="Width">Frame width W.</param>
public sealed record Rgb24Video(IReadOnlyList<byte[]> Frames, int Height, int Width);
