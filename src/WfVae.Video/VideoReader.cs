using System.Globalization;
using System.Text.Json;
using FFMpegCore;

namespace WfVae.Video;

/// <summary>
/// Reads videos through the system ffmpeg: probing (via FFMpegCore's ffprobe model), streaming rgb24 frames, and
/// planar float chunks in [-1, 1] for a causal video encoder.
/// </summary>
/// <remarks>
/// Arguments are validated when a method is called; reading methods returning <see cref="IEnumerable{T}"/> start ffmpeg
/// (and report missing files etc.) on the first <c>MoveNext</c>. Decoding streams through a pipe, so only a few frames
/// are buffered at any time; disposing the enumerator early or cancelling kills the ffmpeg process.
/// Errors are reported as <see cref="VideoIOException"/>; a decode error found after some frames were produced is
/// thrown once the stream ends.
/// </remarks>
public static class VideoReader
{
    /// <summary>Probes <paramref name="path"/> with ffprobe and describes its primary video stream.</summary>
    /// <param name="path">Video file.</param>
    /// <param name="options">Only <see cref="VideoReadOptions.FfmpegFolder"/> matters here; null finds ffprobe as usual.</param>
    /// <exception cref="VideoIOException">Missing file, not a media file, no video stream, zero frames, or ffprobe missing.</exception>
    public static VideoInfo Probe(string path, VideoReadOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        return ProbeCore(path, countFrames: true, options?.FfmpegFolder).Info;
    }

    /// <summary>The (height, width) of the frames that reading <paramref name="info"/> with <paramref name="options"/> produces.</summary>
    public static (int Height, int Width) GetOutputSize(VideoInfo info, VideoReadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(info);
        var opts = options ?? VideoReadOptions.Default;
        opts.Validate();
        return (opts.Height ?? info.Height, opts.Width ?? info.Width);
    }

    /// <summary>
    /// Where the output frames come from: the size the source is cover-scaled to (ffmpeg's
    /// <c>force_original_aspect_ratio=increase</c>, rounded as ffmpeg rounds) and the top-left corner of the centred crop.
    /// </summary>
    public static (int ResizedWidth, int ResizedHeight, int CropX, int CropY) GetCrop(VideoInfo info, VideoReadOptions? options = null)
    {
        var (h, w) = GetOutputSize(info, options);
        if (w == info.Width && h == info.Height) return (w, h, 0, 0);
        int rw = Math.Max(w, (int)Math.Round((double)h * info.Width / info.Height, MidpointRounding.AwayFromZero));
        int rh = Math.Max(h, (int)Math.Round((double)w * info.Height / info.Width, MidpointRounding.AwayFromZero));
        return (rw, rh, (rw - w) / 2, (rh - h) / 2);
    }

    /// <summary>
    /// Streams decoded frames as packed rgb24 (<c>H * W * 3</c> bytes, row-major, one new array per frame).
    /// ffmpeg writes raw video to a pipe; frames are read one at a time, never the whole file.
    /// </summary>
    /// <param name="path">Video file.</param>
    /// <param name="options">Size, frame step, start and limit; null decodes everything at native size.</param>
    /// <param name="ct">Cancels decoding; the ffmpeg process is killed and <see cref="OperationCanceledException"/> thrown.</param>
    public static IEnumerable<byte[]> ReadFramesRgb24(string path, VideoReadOptions? options = null, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var opts = options ?? VideoReadOptions.Default;
        opts.Validate();
        return FramesIterator(path, opts, ct);
    }

    /// <summary>Decodes a short clip completely: its rgb24 frames and their size.</summary>
    /// <param name="path">Video file.</param>
    /// <param name="options">Size, frame step, start and limit; null decodes everything at native size.</param>
    /// <param name="ct">Cancels decoding and kills ffmpeg.</param>
    public static Rgb24Video ReadAllRgb24(string path, VideoReadOptions? options = null, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var opts = options ?? VideoReadOptions.Default;
        opts.Validate();
        ct.ThrowIfCancellationRequested();
        var (probe, streamIndex) = ProbeCore(path, countFrames: false, opts.FfmpegFolder);
        var (h, w) = GetOutputSize(probe, opts);
        var frames = new List<byte[]>();
        foreach (byte[] f in DecodeIterator(probe, streamIndex, opts, ct)) frames.Add(f);
        if (frames.Count == 0) throw new VideoIOException(probe.Path, "no frames were decoded.");
        return new Rgb24Video(frames, h, w);
    }

    private static IEnumerable<byte[]> FramesIterator(string path, VideoReadOptions opts, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var (probe, streamIndex) = ProbeCore(path, countFrames: false, opts.FfmpegFolder);
        foreach (byte[] f in DecodeIterator(probe, streamIndex, opts, ct))
            yield return f;
    }

    private static IEnumerable<byte[]> DecodeIterator(VideoInfo info, int streamIndex, VideoReadOptions opts, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var (height, width) = GetOutputSize(info, opts);
        long frameBytesLong = 3L * height * width;
        if (frameBytesLong > Array.MaxLength)
            throw new VideoIOException(info.Path, $"frames of {width}x{height} are too large to hold in one array.");
        int frameBytes = (int)frameBytesLong;

        var args = BuildDecodeArguments(info, streamIndex, opts, width, height);
        using var proc = FfmpegTools.Start("ffmpeg", info.Path, args, redirectStdin: false, redirectStdout: true, opts.FfmpegFolder);
        using var registration = ct.Register(static p => ((ToolProcess)p!).Kill(), proc);
        Stream stdout = proc.Process.StandardOutput.BaseStream;
        int produced = 0;
        bool hitLimit = false;
        while (true)
        {
            if (opts.MaxFrames is { } max && produced >= max)
            {
                hitLimit = true;
                break;
            }
            ct.ThrowIfCancellationRequested();
            var frame = new byte[frameBytes];
            int got = stdout.ReadAtLeast(frame, frameBytes, throwOnEndOfStream: false);
            ct.ThrowIfCancellationRequested();
            if (got == 0)
                break;
            if (got < frameBytes)
            {
                proc.WaitForExit();
                throw new VideoIOException(info.Path, proc.Failure($"decoding stopped in the middle of frame {produced} ({got} of {frameBytes} bytes); the file is truncated or corrupt"));
            }
            produced++;
            yield return frame;
        }

        if (hitLimit)
            yield break; // The using block kills ffmpeg if it has not stopped by itself.

        int exitCode = proc.WaitForExit();
        ct.ThrowIfCancellationRequested();
        if (exitCode != 0 || proc.StderrLineCount > 0)
        {
            string what = produced == 0
                ? "ffmpeg could not decode it; the file is truncated or corrupt"
                : $"ffmpeg reported errors after {produced} frame(s); the file is truncated or corrupt";
            throw new VideoIOException(info.Path, proc.Failure(what));
        }
        if (produced == 0)
        {
            string where = opts.Start is { } s ? $" at or after start {s} (the video lasts {info.Duration})"
                : opts.StartFrame is > 0 ? $" from frame {opts.StartFrame} (the video has about {info.FrameCount} frames)" : "";
            throw new VideoIOException(info.Path, $"zero frames were decoded{where}.");
        }
    }

    private static List<string> BuildDecodeArguments(VideoInfo info, int streamIndex, VideoReadOptions opts, int width, int height)
    {
        var args = new List<string> { "-hide_banner", "-nostdin", "-loglevel", "error" };
        if (opts.Start is { } start && start > TimeSpan.Zero)
            args.AddRange(["-ss", start.TotalSeconds.ToString("0.0########", CultureInfo.InvariantCulture)]);
        args.AddRange(["-i", FfmpegTools.FileArgument(info.Path), "-map", "0:" + streamIndex.ToString(CultureInfo.InvariantCulture), "-an", "-sn", "-dn"]);

        var filters = new List<string>();
        int skip = opts.StartFrame ?? 0;
        if (skip > 0)
            filters.Add(FormattableString.Invariant($"select=gte(n\\,{skip})*not(mod(n-{skip}\\,{opts.FrameStep}))"));
        else if (opts.FrameStep > 1)
            filters.Add(FormattableString.Invariant($"select=not(mod(n\\,{opts.FrameStep}))"));
        if (width != info.Width || height != info.Height)
        {
            filters.Add(FormattableString.Invariant($"scale={width}:{height}:force_original_aspect_ratio=increase:flags=bicubic"));
            filters.Add(FormattableString.Invariant($"crop={width}:{height}"));
        }
        if (filters.Count > 0)
            args.AddRange(["-vf", string.Join(",", filters)]);
        args.AddRange(FfmpegTools.PassthroughOption(info.Path, opts.FfmpegFolder));
        if (opts.MaxFrames is { } max)
            args.AddRange(["-frames:v", max.ToString(CultureInfo.InvariantCulture)]);
        args.AddRange(["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]);
        return args;
    }

    /// <summary>
    /// Probes the file. With <paramref name="countFrames"/> false (used before decoding, which finds the real count anyway),
    /// a missing <c>nb_frames</c> is estimated from duration and rate instead of demuxing the whole file, and zero is allowed.
    /// </summary>
    internal static (VideoInfo Info, int StreamIndex) ProbeCore(string path, bool countFrames, string? ffmpegFolder)
    {
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full))
            throw new VideoIOException(full, "is a directory, not a video file.");
        if (!File.Exists(full))
            throw new VideoIOException(full, "file does not exist.");
        try
        {
            using var check = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new VideoIOException(full, $"cannot be opened for reading: {ex.Message}", ex);
        }

        string json = RunProbe(full,
        [
            "-hide_banner", "-loglevel", "error", "-print_format", "json",
            "-show_format", "-sexagesimal", "-show_streams", FfmpegTools.FileArgument(full),
        ], "ffprobe could not read it as a media file (not a video, or truncated/corrupt)", ffmpegFolder);

        IMediaAnalysis analysis;
        try
        {
            analysis = FFProbe.FromJson(json);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            throw new VideoIOException(full, $"ffprobe output could not be parsed ({ex.Message}); the file is probably not a video.", ex);
        }

        VideoStream? stream = analysis.VideoStreams.FirstOrDefault(s => !IsAttachedPicture(s));
        if (stream is null)
        {
            string kinds = analysis.Raw.Streams.Count == 0 ? "no streams" : "only " + string.Join(", ", analysis.Raw.Streams.Select(s => s.CodecType).Distinct()) + " streams";
            throw new VideoIOException(full, $"not a video: it has no video stream ({kinds}).");
        }
        if (stream.Width is not > 0 || stream.Height is not > 0)
            throw new VideoIOException(full, "the video stream has no valid frame size; the file is truncated or corrupt.");

        int width = stream.Width.Value, height = stream.Height.Value;
        int rotation = ((stream.Rotation % 360) + 360) % 360;
        if (rotation is 90 or 270)
            (width, height) = (height, width);

        double fps = Valid(stream.AverageFrameRate) ? stream.AverageFrameRate : Valid(stream.RealFrameRate) ? stream.RealFrameRate : 0;
        TimeSpan duration = stream.Duration > TimeSpan.Zero ? stream.Duration : analysis.Format.Duration;

        FFProbeStream? raw = analysis.Raw.Streams.FirstOrDefault(s => s.Index == stream.Index);
        int frames = raw is not null && TryGetCount(raw.ExtensionData, "nb_frames", out int nb) && nb > 0
            ? nb
            : countFrames ? CountPackets(full, stream.Index, ffmpegFolder) : 0;
        if (frames <= 0 && fps > 0 && duration > TimeSpan.Zero)
            frames = (int)Math.Min(int.MaxValue, Math.Round(duration.TotalSeconds * fps));
        if (frames <= 0 && countFrames)
            throw new VideoIOException(full, "the video stream has zero frames.");
        if (duration <= TimeSpan.Zero && fps > 0)
            duration = TimeSpan.FromSeconds(frames / fps);

        return (new VideoInfo(full, width, height, fps, frames, duration), stream.Index);

        static bool Valid(double v) => v > 0 && double.IsFinite(v);
    }

    private static bool IsAttachedPicture(VideoStream s) =>
        s.Disposition is not null && s.Disposition.TryGetValue("attached_pic", out bool pic) && pic;

    private static int CountPackets(string full, int streamIndex, string? ffmpegFolder)
    {
        string json = RunProbe(full,
        [
            "-hide_banner", "-loglevel", "error", "-print_format", "json", "-count_packets",
            "-select_streams", streamIndex.ToString(CultureInfo.InvariantCulture),
            "-show_entries", "stream=nb_read_packets", FfmpegTools.FileArgument(full),
        ], "ffprobe could not count the video packets (truncated/corrupt file)", ffmpegFolder);
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (doc.RootElement.TryGetProperty("streams", out var streams) && streams.GetArrayLength() > 0
                && streams[0].TryGetProperty("nb_read_packets", out var n)
                && TryParseCount(n, out int count))
                return count;
        }
        catch (JsonException)
        {
        }
        return 0;
    }

    private static bool TryGetCount(IReadOnlyDictionary<string, JsonElement>? data, string key, out int value)
    {
        value = 0;
        return data is not null && data.TryGetValue(key, out var e) && TryParseCount(e, out value);
    }

    private static bool TryParseCount(JsonElement e, out int value)
    {
        value = 0;
        return e.ValueKind switch
        {
            JsonValueKind.Number => e.TryGetInt32(out value),
            JsonValueKind.String => int.TryParse(e.GetString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out value),
            _ => false,
        };
    }

    private static string RunProbe(string full, List<string> args, string failure, string? ffmpegFolder)
    {
        using var proc = FfmpegTools.Start("ffprobe", full, args, redirectStdin: false, redirectStdout: true, ffmpegFolder);
        string json = proc.Process.StandardOutput.ReadToEnd();
        int exit = proc.WaitForExit();
        if (exit != 0)
            throw new VideoIOException(full, proc.Failure(failure));
        return json;
    }
}
