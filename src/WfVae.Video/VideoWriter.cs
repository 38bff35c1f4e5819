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

    private static readonly ConcurrentDictionary<string, bool> HasLibx264Cache = new(StringComparer.Ordinal);

    /// <summary>
    /// Writes packed rgb24 frames (<c>height * width * 3</c> bytes each) as an mp4 file. Uses libx264 at CRF
    /// <see cref="X264Crf"/> with full-resolution chroma (yuv444p); if ffmpeg lacks libx264, mpeg4 at high quality
    /// (<c>-q:v 2</c>, yuv420p); <paramref name="options"/> can choose the encoder.
    /// </summary>
    /// <param name="path">Output file (its folder must exist); replaced only when the write succeeds.</param>
    /// <param name="rgbFrames">Frames, enumerated once while ffmpeg encodes them.</param>
    /// <param name="height">Frame height.</param>
    /// <param name="width">Frame width.</param>
    /// <param name="fps">Frame rate of the written file.</param>
    /// <param name="options">Encoder and ffmpeg location; null is <see cref="VideoWriteOptions.Default"/>.</param>
    public static void WriteMp4(string path, IEnumerable<byte[]> rgbFrames, int height, int width, double fps = 8, VideoWriteOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(rgbFrames);
        CheckSize(height, width);
        CheckFrameRate(fps);

        var opts = options ?? VideoWriteOptions.Default;
        if (!Enum.IsDefined(opts.Encoder))
            throw new ArgumentOutOfRangeException(nameof(options), opts.Encoder, "VideoWriteOptions.Encoder must be Automatic, Libx264 or Mpeg4.");
        string full = Path.GetFullPath(path);
        CheckOutputPath(full);
        bool libx264 = opts.Encoder switch
        {
            Mp4Encoder.Mpeg4 => false,
            Mp4Encoder.Libx264 => HasLibx264(full, opts.FfmpegFolder)
                ? true
                : throw new VideoIOException(full, "the ffmpeg build has no libx264 encoder; use Mp4Encoder.Automatic or Mpeg4."),
            _ => HasLibx264(full, opts.FfmpegFolder),
        };
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
            using (var proc = FfmpegTools.Start("ffmpeg", full, args, redirectStdin: true, redirectStdout: false, opts.FfmpegFolder))
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

    /// <summary>Writes rgb24 frames side by side into one PNG (<c>frames * width</c> by <c>height</c> pixels).</summary>
    /// <param name="path">Output PNG file (its folder must exist); replaced only when the write succeeds.</param>
    /// <param name="rgbFrames">Packed rgb24 frames (<c>height * width * 3</c> bytes each), left to right; at least one.</param>
    /// <param name="height">Frame height H.</param>
    /// <param name="width">Frame width W.</param>
    public static void WriteFrameStripPng(string path, IReadOnlyList<byte[]> rgbFrames, int height, int width)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        byte[] png = EncodeFrameStripPng(rgbFrames, height, width);
        string full = Path.GetFullPath(path);
        CheckOutputPath(full);
        try
        {
            AtomicFileWriter.WriteFile(full, fs => fs.Write(png));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new VideoIOException(full, $"could not write the PNG: {ex.Message}", ex);
        }
    }

    /// <summary>The PNG file bytes of rgb24 frames side by side (<c>frames * width</c> by <c>height</c> pixels), for display.</summary>
    /// <param name="rgbFrames">Packed rgb24 frames (<c>height * width * 3</c> bytes each), left to right; at least one.</param>
    /// <param name="height">Frame height H.</param>
    /// <param name="width">Frame width W.</param>
    public static byte[] EncodeFrameStripPng(IReadOnlyList<byte[]> rgbFrames, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(rgbFrames);
        CheckSize(height, width);
        if (rgbFrames.Count == 0) throw new ArgumentException("a strip needs at least one frame.", nameof(rgbFrames));
        int n = rgbFrames.Count;
        long stripWidth = (long)n * width;
        if (stripWidth * height * 3 > Array.MaxLength || stripWidth > int.MaxValue)
            throw new ArgumentException($"A strip of {n} frames of {width}x{height} is too large; use fewer frames.", nameof(rgbFrames));
        int sw = (int)stripWidth, row = width * 3;
        var rgb = new byte[(long)sw * height * 3];
        for (int i = 0; i < n; i++)
        {
            if (rgbFrames[i].Length != row * height)
                throw new ArgumentException($"frame {i} has {rgbFrames[i].Length} bytes; a {width}x{height} rgb24 frame has {row * height}.", nameof(rgbFrames));
            for (int y = 0; y < height; y++)
                Buffer.BlockCopy(rgbFrames[i], y * row, rgb, (y * sw + i * width) * 3, row);
        }
        using var png = new MemoryStream();
        PngEncoder.Write(png, rgb, sw, height);
        return png.ToArray();
    }

    /// <summary>Throws unless <paramref name="fps"/> can be written to an mp4: finite and in (0, 1000].</summary>
    public static void CheckFrameRate(double fps)
    {
        if (!(fps > 0) || !double.IsFinite(fps) || fps > 1000)
            throw new ArgumentOutOfRangeException(nameof(fps), fps, "the frame rate (fps) must be in (0, 1000] frames per second.");
    }

    private static void CheckSize(int height, int width)
    {
        if (height < 1 || height > VideoReadOptions.MaxDimension)
            throw new ArgumentOutOfRangeException(nameof(height), height, $"height must be in [1, {VideoReadOptions.MaxDimension}].");
        if (width < 1 || width > VideoReadOptions.MaxDimension)
            throw new ArgumentOutOfRangeException(nameof(width), width, $"width must be in [1, {VideoReadOptions.MaxDimension}].");
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

    private static bool HasLibx264(string forFile, string? ffmpegFolder)
    {
        string exe = FfmpegTools.Resolve("ffmpeg", forFile, ffmpegFolder);
        return HasLibx264Cache.GetOrAdd(exe, static (e, file) =>
        {
            using var proc = FfmpegTools.Start("ffmpeg", file, ["-hide_banner", "-loglevel", "error", "-encoders"], redirectStdin: false, redirectStdout: true, Path.GetDirectoryName(e));
            string list = proc.Process.StandardOutput.ReadToEnd();
            proc.WaitForExit();
            return list.Split('\n').Any(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries) is [_, "libx264", ..]);
        }, forFile);
    }
}
