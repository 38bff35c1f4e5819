using System.Collections.Concurrent;
using System.Globalization;
using WfVae.Files;

namespace WfVae.Video;

/// <summary>
/// Writes videos (H.264 mp4 through the system ffmpeg) and frame-strip PNG previews. Every write goes to a temporary
/// file in the target folder that is moved into place only on success, so a failure leaves no half-written output
/// (and an existing file at the target path untouched).
/// </summary>
public static class VideoWriter
{
    /// <summary>Constant rate factor used with libx264 (near-transparent quality).</summary>
    public const int X264Crf = 10;

    /// <summary>Test hook: pretend libx264 is missing so that the mpeg4 fallback is used (this async flow only).</summary>
    internal static readonly AsyncLocal<bool> ForceMpeg4Fallback = new();

    private static readonly ConcurrentDictionary<string, bool> HasLibx264Cache = new(StringComparer.Ordinal);

    /// <summary>
    /// Writes a planar (C=3, T, H, W) video with values in [-1, 1] (clamped; NaN counts as 0) as an mp4 file.
    /// Uses libx264 at CRF <see cref="X264Crf"/> with full-resolution chroma (yuv444p); if ffmpeg lacks libx264, mpeg4 at
    /// high quality (<c>-q:v 2</c>, yuv420p).
    /// </summary>
    /// <param name="path">Output file (its folder must exist); replaced only when the write succeeds.</param>
    /// <param name="video">Planar samples, length <c>3 * frames * height * width</c>.</param>
    /// <param name="frames">Number of frames T (at least 1).</param>
    /// <param name="height">Frame height H.</param>
    /// <param name="width">Frame width W.</param>
    /// <param name="fps">Frame rate of the written file.</param>
    public static void WriteMp4(string path, float[] video, int frames, int height, int width, double fps = 8)
    {
        ArgumentNullException.ThrowIfNull(video);
        CheckPlanar(video, frames, height, width);
        WriteMp4(path, PlanarFrames(video, frames, height, width), height, width, fps);
    }

    /// <summary>Writes packed rgb24 frames (<c>height * width * 3</c> bytes each) as an mp4 file; see the planar overload.</summary>
    /// <param name="path">Output file (its folder must exist); replaced only when the write succeeds.</param>
    /// <param name="rgbFrames">Frames, enumerated once while ffmpeg encodes them.</param>
    /// <param name="height">Frame height.</param>
    /// <param name="width">Frame width.</param>
    /// <param name="fps">Frame rate of the written file.</param>
    public static void WriteMp4(string path, IEnumerable<byte[]> rgbFrames, int height, int width, double fps = 8)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(rgbFrames);
        CheckSize(height, width);
        if (!(fps > 0) || !double.IsFinite(fps) || fps > 1000)
            throw new ArgumentOutOfRangeException(nameof(fps), fps, "fps must be in (0, 1000].");

        string full = Path.GetFullPath(path);
        CheckOutputPath(full);
        bool libx264 = !ForceMpeg4Fallback.Value && HasLibx264(full);
        int frameBytes = checked(height * width * 3);
        AtomicFileWriter.WriteFileAt(full, temp =>
        {
            var args = new List<string>
            {
                "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
                "-f", "rawvideo", "-pix_fmt", "rgb24",
                "-s", FormattableString.Invariant($"{width}x{height}"),
                "-framerate", fps.ToString("R", CultureInfo.InvariantCulture),
                "-i", "pipe:0", "-an",
            };
            if (libx264)
            {
                args.AddRange(["-c:v", "libx264", "-preset", "medium", "-crf", X264Crf.ToString(CultureInfo.InvariantCulture), "-pix_fmt", "yuv444p"]);
            }
            else
            {
                args.AddRange(["-c:v", "mpeg4", "-q:v", "2", "-pix_fmt", "yuv420p"]);
            }
            // Untagged YUV is decoded with BT.601 by ffmpeg, the matrix swscale used to encode it; say so for players.
            args.AddRange(["-colorspace", "smpte170m", "-movflags", "+faststart", "-f", "mp4", FfmpegTools.FileArgument(temp)]);

            int written = 0;
            using (var proc = FfmpegTools.Start("ffmpeg", full, args, redirectStdin: true, redirectStdout: false))
            {
                Stream stdin = proc.Process.StandardInput.BaseStream;
                bool pipeBroken = false;
                foreach (byte[] frame in rgbFrames)
                {
                    if (frame is null || frame.Length != frameBytes)
                        throw new ArgumentException($"Frame {written} has {frame?.Length.ToString(CultureInfo.InvariantCulture) ?? "null"} bytes; expected {frameBytes} ({width}x{height} rgb24).", nameof(rgbFrames));
                    try
                    {
                        stdin.Write(frame);
                    }
                    catch (IOException)
                    {
                        pipeBroken = true; // ffmpeg stopped reading; its exit code and stderr tell why.
                        break;
                    }
                    written++;
                }
                if (written == 0 && !pipeBroken)
                    throw new VideoIOException(full, "zero frames to write.");
                try
                {
                    stdin.Close();
                }
                catch (IOException)
                {
                    pipeBroken = true;
                }
                int exit = proc.WaitForExit();
                if (exit != 0 || proc.StderrLineCount > 0 || pipeBroken)
                    throw new VideoIOException(full, proc.Failure($"ffmpeg failed to encode the mp4 after {written} frame(s)"));
            }
            if (!File.Exists(temp) || new FileInfo(temp).Length == 0)
                throw new VideoIOException(full, "ffmpeg reported success but wrote no output.");
        });
    }

    /// <summary>
    /// Writes up to <paramref name="maxFrames"/> frames of a planar (C=3, T, H, W) [-1, 1] video side by side into one PNG
    /// (<c>n * width</c> by <c>height</c> pixels). When the video has more frames, they are picked evenly from first to last.
    /// </summary>
    /// <param name="path">Output PNG file (its folder must exist); replaced only when the write succeeds.</param>
    /// <param name="video">Planar samples, length <c>3 * frames * height * width</c>.</param>
    /// <param name="frames">Number of frames T.</param>
    /// <param name="height">Frame height H.</param>
    /// <param name="width">Frame width W.</param>
    /// <param name="maxFrames">Most frames shown (at least 1).</param>
    public static void WriteFrameStripPng(string path, float[] video, int frames, int height, int width, int maxFrames = 8)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(video);
        CheckPlanar(video, frames, height, width);
        if (maxFrames < 1)
            throw new ArgumentOutOfRangeException(nameof(maxFrames), maxFrames, "maxFrames must be >= 1.");

        int n = Math.Min(frames, maxFrames);
        long stripWidth = (long)n * width;
        if (stripWidth * height * 3 > Array.MaxLength || stripWidth > int.MaxValue)
            throw new ArgumentException($"A strip of {n} frames of {width}x{height} is too large; lower maxFrames.", nameof(maxFrames));
        int sw = (int)stripWidth;
        var rgb = new byte[(long)sw * height * 3];
        long plane = (long)frames * height * width;
        for (int i = 0; i < n; i++)
        {
            int t = n == 1 ? 0 : (int)Math.Round(i * (frames - 1) / (double)(n - 1));
            long frameOffset = (long)t * height * width;
            for (int y = 0; y < height; y++)
            {
                for (int x = 0; x < width; x++)
                {
                    long src = frameOffset + (long)y * width + x;
                    long dst = ((long)y * sw + (long)i * width + x) * 3;
                    rgb[dst] = ToByte(video[src]);
                    rgb[dst + 1] = ToByte(video[plane + src]);
                    rgb[dst + 2] = ToByte(video[2 * plane + src]);
                }
            }
        }

        string full = Path.GetFullPath(path);
        CheckOutputPath(full);
        try
        {
            AtomicFileWriter.WriteFile(full, fs => PngEncoder.Write(fs, rgb, sw, height));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new VideoIOException(full, $"could not write the PNG: {ex.Message}", ex);
        }
    }

    /// <summary>Maps a [-1, 1] sample to a byte: clamp, then round <c>(v + 1) * 127.5</c>; NaN maps to 0.</summary>
    internal static byte ToByte(float v)
    {
        if (float.IsNaN(v))
            return 0;
        float s = (v + 1f) * 127.5f;
        if (s <= 0f)
            return 0;
        if (s >= 255f)
            return 255;
        return (byte)MathF.Round(s, MidpointRounding.AwayFromZero);
    }

    private static IEnumerable<byte[]> PlanarFrames(float[] video, int frames, int height, int width)
    {
        int hw = height * width;
        long plane = (long)frames * hw;
        for (int t = 0; t < frames; t++)
        {
            var frame = new byte[hw * 3];
            long o = (long)t * hw;
            for (int p = 0; p < hw; p++)
            {
                frame[3 * p] = ToByte(video[o + p]);
                frame[3 * p + 1] = ToByte(video[plane + o + p]);
                frame[3 * p + 2] = ToByte(video[2 * plane + o + p]);
            }
            yield return frame;
        }
    }

    private static void CheckSize(int height, int width)
    {
        if (height < 1 || height > VideoReadOptions.MaxDimension)
            throw new ArgumentOutOfRangeException(nameof(height), height, $"height must be in [1, {VideoReadOptions.MaxDimension}].");
        if (width < 1 || width > VideoReadOptions.MaxDimension)
            throw new ArgumentOutOfRangeException(nameof(width), width, $"width must be in [1, {VideoReadOptions.MaxDimension}].");
    }

    private static void CheckPlanar(float[] video, int frames, int height, int width)
    {
        CheckSize(height, width);
        if (frames < 1)
            throw new ArgumentOutOfRangeException(nameof(frames), frames, "frames must be >= 1.");
        long expected = 3L * frames * height * width;
        if (video.LongLength != expected)
            throw new ArgumentException($"video has {video.LongLength} values; a planar (3, {frames}, {height}, {width}) video needs {expected}.", nameof(video));
    }

    /// <summary>Clear errors for an output path whose folder is missing or that names a folder.</summary>
    private static void CheckOutputPath(string full)
    {
        string? dir = Path.GetDirectoryName(full);
        if (string.IsNullOrEmpty(dir) || !Directory.Exists(dir))
            throw new VideoIOException(full, $"the output folder '{dir}' does not exist.");
        if (Directory.Exists(full))
            throw new VideoIOException(full, "is a directory; cannot write a file there.");
    }

    private static bool HasLibx264(string forFile)
    {
        string exe = FfmpegTools.Resolve("ffmpeg", forFile);
        return HasLibx264Cache.GetOrAdd(exe, static (e, file) =>
        {
            using var proc = FfmpegTools.Start("ffmpeg", file, ["-hide_banner", "-loglevel", "error", "-encoders"], redirectStdin: false, redirectStdout: true);
            string list = proc.Process.StandardOutput.ReadToEnd();
            proc.WaitForExit();
            return list.Split('\n').Any(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries) is [_, "libx264", ..]);
        }, forFile);
    }
}
