using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace WfVae.Training;

/// <summary>A decoded video: its packed rgb24 frames (H·W·3 bytes each, as ffmpeg gives them).</summary>
public sealed record DecodedVideo(IReadOnlyList<byte[]> Rgb24Frames, int Height, int Width)
{
    /// <summary>Number of frames.</summary>
    public int Frames => Rgb24Frames.Count;
}

/// <summary>
/// Training clips drawn from a list of video files: a random video, a random run of 1 + 4k frames (stride 1, or 2 with
/// <see cref="TrainingOptions.Stride2Probability"/>), a random square crop, random horizontal flip and time reversal.
/// Videos are decoded on first use by a caller-supplied decoder (WfVae.Pipeline's <c>TrainingVideos</c>, so this
/// library needs no video dependency) and kept as rgb24 frames in a bounded in-memory cache.
/// Videos shorter than the clip are looped back and forth; frames smaller than the crop are upscaled bilinearly.
/// </summary>
public sealed class VideoClipDataset
{
    /// <summary>File extensions <see cref="FromFolder"/> picks up.</summary>
    public static readonly IReadOnlyList<string> VideoExtensions = [".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".gif"];

    private readonly Func<string, DecodedVideo> _decoder;
    private readonly long _cacheBytes;
    private readonly Dictionary<int, Cached> _cache = [];
    private readonly Lock _lock = new();
    private long _held;

    private sealed record Cached(IReadOnlyList<byte[]> Frames, int Height, int Width, long Bytes);

    /// <summary>The video files, in a fixed (sorted) order.</summary>
    public IReadOnlyList<string> Paths { get; }

    /// <summary>Creates a dataset over <paramref name="paths"/>.</summary>
    /// <param name="paths">Video files (at least one).</param>
    /// <param name="decoder">Decodes a whole file to planar [-1, 1] samples.</param>
    /// <param name="cacheBytes">Most bytes of decoded 8-bit video kept in memory (default 1 GiB).</param>
    public VideoClipDataset(IEnumerable<string> paths, Func<string, DecodedVideo> decoder, long cacheBytes = 1L << 30)
    {
        ArgumentNullException.ThrowIfNull(paths);
        Paths = paths.ToArray();
        if (Paths.Count == 0) throw new ArgumentException("the training set has no videos.", nameof(paths));
        _decoder = decoder ?? throw new ArgumentNullException(nameof(decoder));
        _cacheBytes = cacheBytes;
    }

    /// <summary>All videos under <paramref name="folder"/> (recursively, by extension), sorted by path.</summary>
    public static VideoClipDataset FromFolder(string folder, Func<string, DecodedVideo> decoder, long cacheBytes = 1L << 30)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"training data folder '{folder}' does not exist.");
        var files = Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .Where(f => VideoExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .OrderBy(f => f, StringComparer.Ordinal).ToArray();
        if (files.Length == 0)
            throw new ArgumentException($"training data folder '{folder}' holds no videos ({string.Join(", ", VideoExtensions)}).");
        return new VideoClipDataset(files, decoder, cacheBytes);
    }

    /// <summary>Draws a batch (B, 3, T, S, S) in [-1, 1] using only <paramref name="rng"/> for randomness.</summary>
    public Tensor Sample(Random rng, int batch, int frames, int size, double stride2Probability = 0.25)
    {
        ArgumentNullException.ThrowIfNull(rng);
        var clips = new Tensor[batch];
        try
        {
            for (int i = 0; i < batch; i++) clips[i] = SampleOne(rng, frames, size, stride2Probability);
            return stack(clips);
        }
        finally
        {
            foreach (var c in clips) c?.Dispose();
        }
    }

    private Tensor SampleOne(Random rng, int frames, int size, double stride2Probability)
    {
        int index = rng.Next(Paths.Count);
        // Draw every random number up front so the sequence does not depend on the clip's dimensions.
        double strideDraw = rng.NextDouble(), startDraw = rng.NextDouble(), yDraw = rng.NextDouble(), xDraw = rng.NextDouble();
        bool flip = rng.NextDouble() < 0.5, reverse = rng.NextDouble() < 0.25;
        var v = Get(index);
        int count = v.Frames.Count;
        int stride = strideDraw < stride2Probability && (frames - 1) * 2 + 1 <= count ? 2 : 1;
        int span = (frames - 1) * stride + 1;
        int start = span <= count ? (int)(startDraw * (count - span + 1)) : 0;
        var idx = new int[frames];
        for (int t = 0; t < frames; t++) idx[t] = PingPong(start + t * stride, count);
        if (reverse) Array.Reverse(idx);

        using var scope = NewDisposeScope();
        var x = FrameTensors.FromRgb24(idx.Select(i => v.Frames[i]).ToArray(), v.Height, v.Width).squeeze(0); // (3, T, H, W)
        if (v.Height < size || v.Width < size)
        {
            double scale = (double)size / Math.Min(v.Height, v.Width);
            long nh = Math.Max(size, (long)Math.Ceiling(v.Height * scale)), nw = Math.Max(size, (long)Math.Ceiling(v.Width * scale));
            x = F.interpolate(x.permute(1, 0, 2, 3), [nh, nw], mode: InterpolationMode.Bilinear, align_corners: false).permute(1, 0, 2, 3);
        }
        long h = x.shape[2], w = x.shape[3];
        long y0 = (long)(yDraw * (h - size + 1)), x0 = (long)(xDraw * (w - size + 1));
        x = x.narrow(2, y0, size).narrow(3, x0, size);
        if (flip) x = x.flip(3);
        return scope.MoveToOuter(x.contiguous());
    }

    /// <summary>
    /// Decodes every video into the cache on a background thread (one at a time, in path order) so that training
    /// steps rarely wait for ffmpeg. Sampling never depends on it: an uncached video is decoded on demand.
    /// </summary>
    public Task PreloadAsync(CancellationToken ct = default) => Task.Run(() =>
    {
        for (int i = 0; i < Paths.Count && !ct.IsCancellationRequested; i++)
        {
            lock (_lock)
            {
                if (_held >= _cacheBytes) return;
                if (_cache.ContainsKey(i)) continue;
            }
            try { Get(i); }
            catch (InvalidDataException) { }
            catch (IOException) { }
        }
    }, ct);

    private static int PingPong(int i, int n)
    {
        if (n == 1) return 0;
        int period = 2 * (n - 1);
        int m = i % period;
        return m < n ? m : period - m;
    }

    private Cached Get(int index)
    {
        lock (_lock)
        {
            if (_cache.TryGetValue(index, out var hit)) return hit;
        }
        var d = _decoder(Paths[index]);
        long frameBytes = 3L * d.Height * d.Width;
        if (d.Frames < 1) throw new InvalidDataException($"'{Paths[index]}' decoded to no frames.");
        int bad = d.Rgb24Frames.ToList().FindIndex(f => f.Length != frameBytes);
        if (bad >= 0)
            throw new InvalidDataException($"'{Paths[index]}' frame {bad} decoded to {d.Rgb24Frames[bad].Length} bytes, which is not {d.Width}×{d.Height}×3 = {frameBytes}.");
        var entry = new Cached(d.Rgb24Frames, d.Height, d.Width, frameBytes * d.Frames);
        lock (_lock)
        {
            while (_held + entry.Bytes > _cacheBytes && _cache.Count > 0)
            {
                var victim = _cache.Keys.First();
                _held -= _cache[victim].Bytes;
                _cache.Remove(victim);
            }
            _cache[index] = entry;
            _held += entry.Bytes;
        }
        return entry;
    }
}
