using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace WfVae.Training;

/// <summary>A decoded video: planar (3, T, H, W) samples in [-1, 1] (the layout of WfVae.Video's <c>VideoClip</c>).</summary>
public sealed record DecodedVideo(float[] Data, int Frames, int Height, int Width);

/// <summary>
/// Training clips drawn from a list of video files: a random video, a random run of 1 + 4k frames (stride 1, or 2 with
/// <see cref="TrainingOptions.Stride2Probability"/>), a random square crop, random horizontal flip and time reversal.
/// Videos are decoded on first use by a caller-supplied decoder (the CLI passes WfVae.Video's ffmpeg reader, so this
/// library needs no video dependency) and kept as 8-bit planes in a bounded in-memory cache.
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

    private sealed record Cached(byte[] Planes, int Frames, int Height, int Width);

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
        int stride = strideDraw < stride2Probability && (frames - 1) * 2 + 1 <= v.Frames ? 2 : 1;
        int span = (frames - 1) * stride + 1;
        int start = span <= v.Frames ? (int)(startDraw * (v.Frames - span + 1)) : 0;
        var idx = new int[frames];
        for (int t = 0; t < frames; t++) idx[t] = PingPong(start + t * stride, v.Frames);
        if (reverse) Array.Reverse(idx);

        // Gather the selected frames as (3, T, H, W) bytes.
        long plane = (long)v.Height * v.Width;
        var buf = new byte[3L * frames * plane];
        for (int c = 0; c < 3; c++)
            for (int t = 0; t < frames; t++)
                Array.Copy(v.Planes, ((long)c * v.Frames + idx[t]) * plane, buf, ((long)c * frames + t) * plane, plane);
        using var scope = NewDisposeScope();
        var x = tensor(buf, [3, frames, v.Height, v.Width]).to(ScalarType.Float32).div_(127.5).sub_(1.0);
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
        if (d.Frames < 1 || d.Data.Length != 3L * d.Frames * d.Height * d.Width)
            throw new InvalidDataException($"'{Paths[index]}' decoded to {d.Data.Length} samples, which is not 3×{d.Frames}×{d.Height}×{d.Width}.");
        var planes = new byte[d.Data.Length];
        for (long i = 0; i < planes.Length; i++)
            planes[i] = (byte)Math.Clamp((int)MathF.Round((d.Data[i] + 1f) * 127.5f), 0, 255);
        var entry = new Cached(planes, d.Frames, d.Height, d.Width);
        lock (_lock)
        {
            while (_held + planes.Length > _cacheBytes && _cache.Count > 0)
            {
                var victim = _cache.Keys.First();
                _held -= _cache[victim].Planes.Length;
                _cache.Remove(victim);
            }
            _cache[index] = entry;
            _held += planes.Length;
        }
        return entry;
    }
}
