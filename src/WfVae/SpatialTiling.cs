using static TorchSharp.torch;

namespace WfVae;

/// <summary>When <see cref="SpatialTiling"/> cuts frames into tiles.</summary>
public enum TilingMode
{
    /// <summary>Whole frames (default).</summary>
    Off,
    /// <summary>Every frame through the tiled path (a frame no larger than a tile is one tile, equal to whole-frame output).</summary>
    Always,
    /// <summary>Tiles only frames above <see cref="SpatialTiling.AboveFramePixels"/> (and larger than one tile).</summary>
    Automatic,
}

/// <summary>
/// Spatial tiling of encode and decode: frames are cut into overlapping tiles (sizes in video pixels; decode uses the
/// latent-space equivalent, divided by the spatial compression), each tile runs the Causal Cache temporal loop on its
/// own cache, and the tiles are blended linearly across their overlaps. Memory is then that of one tile, in time and
/// space. WF-VAE's LayerNorm is per position, so tiles keep their colour; convolutions near tile edges and the
/// whole-frame mid attention see only their tile, so tiled output approximates whole-frame output (measured in docs/bench.md).
/// </summary>
public sealed record SpatialTiling
{
    /// <summary>No tiling.</summary>
    public static SpatialTiling Off { get; } = new();

    /// <summary>When tiling applies.</summary>
    public TilingMode Mode { get; init; } = TilingMode.Off;
    /// <summary>Tile side in video pixels (a multiple of the model's spatial compression, 8 for the released models).</summary>
    public int TileSize { get; init; } = 256;
    /// <summary>Overlap of neighbouring tiles in video pixels (a multiple of the spatial compression, at most half a tile).</summary>
    public int Overlap { get; init; } = 64;
    /// <summary>For <see cref="TilingMode.Automatic"/>: frames of more than this many pixels (width × height) are tiled.</summary>
    public long AboveFramePixels { get; init; } = 512L * 512;

    /// <summary>Tiles of <paramref name="tileSize"/> pixels overlapping by <paramref name="overlap"/>, for every frame.</summary>
    public static SpatialTiling Always(int tileSize = 256, int overlap = 64) => new() { Mode = TilingMode.Always, TileSize = tileSize, Overlap = overlap };

    /// <summary>Tiles only for frames above <paramref name="aboveFramePixels"/> pixels.</summary>
    public static SpatialTiling Automatic(long aboveFramePixels = 512L * 512, int tileSize = 256, int overlap = 64) =>
        new() { Mode = TilingMode.Automatic, TileSize = tileSize, Overlap = overlap, AboveFramePixels = aboveFramePixels };

    /// <summary>Whether video frames of <paramref name="height"/> × <paramref name="width"/> pixels are tiled.</summary>
    public bool Applies(long height, long width) => Mode switch
    {
        TilingMode.Always => true,
        TilingMode.Automatic => height * width > AboveFramePixels && (height > TileSize || width > TileSize),
        _ => false,
    };

    /// <summary>The tiles along one side of <paramref name="side"/> video pixels: (start, length) in pixels, the last one moved back to end at the edge.</summary>
    public IReadOnlyList<(long Start, long Length)> Spans(long side) => TileAxis.Spans(side, TileSize, Overlap);

    /// <summary>Throws naming the first invalid setting for a model of <paramref name="spatialFactor"/> pixels per latent pixel.</summary>
    public SpatialTiling Validated(int spatialFactor, string what = "WfVaeInferenceOptions.Tiling")
    {
        if (!Enum.IsDefined(Mode))
            throw new ArgumentOutOfRangeException(nameof(Mode), Mode, $"{what}: mode {Mode} is not Off, Always or Automatic.");
        if (Mode == TilingMode.Off) return this;
        if (TileSize < spatialFactor || TileSize % spatialFactor != 0)
            throw new ArgumentOutOfRangeException(nameof(TileSize), TileSize, $"{what}: tile size {TileSize} px must be a positive multiple of the model's spatial compression {spatialFactor} pixels (e.g. 256).");
        if (Overlap < 0 || Overlap % spatialFactor != 0 || Overlap > TileSize / 2)
            throw new ArgumentOutOfRangeException(nameof(Overlap), Overlap, $"{what}: overlap {Overlap} px must be a multiple of {spatialFactor} pixels from 0 to half the tile ({TileSize / 2 / spatialFactor * spatialFactor}), e.g. {TileSize / 4 / spatialFactor * spatialFactor}.");
        if (AboveFramePixels < 0)
            throw new ArgumentOutOfRangeException(nameof(AboveFramePixels), AboveFramePixels, $"{what}: AboveFramePixels {AboveFramePixels} must be 0 or more.");
        return this;
    }

    public override string ToString() => Mode switch
    {
        TilingMode.Off => "off",
        TilingMode.Always => $"{TileSize} px tiles, {Overlap} px overlap",
        _ => $"{TileSize} px tiles, {Overlap} px overlap, above {AboveFramePixels} px frames",
    };
}

/// <summary>Tile spans and blend weights along one axis.</summary>
internal static class TileAxis
{
    /// <summary>Tiles of <paramref name="tile"/> with stride tile − overlap; the last is moved back to end at the edge, so every tile has the same size.</summary>
    public static IReadOnlyList<(long Start, long Length)> Spans(long side, long tile, long overlap)
    {
        if (side <= tile) return [(0, side)];
        long stride = tile - overlap;
        var spans = new List<(long, long)>();
        for (long s = 0; ; s += stride)
        {
            long start = Math.Min(s, side - tile);
            spans.Add((start, tile));
            if (start + tile >= side) break;
        }
        return spans;
    }

    /// <summary>
    /// Per-tile weights over the output span (<paramref name="num"/>/<paramref name="den"/> output units per input unit): linear
    /// ramps across each overlap with a neighbour, normalised so the weights of every position sum to 1 (a lone tile weighs exactly 1).
    /// </summary>
    public static double[][] Weights(IReadOnlyList<(long Start, long Length)> spans, long num, long den)
    {
        int n = spans.Count;
        var outSpans = spans.Select(s => (Start: s.Start * num / den, Length: s.Length * num / den)).ToArray();
        long total = outSpans.Max(s => s.Start + s.Length);
        var w = new double[n][];
        for (int i = 0; i < n; i++)
        {
            var (start, len) = outSpans[i];
            w[i] = new double[len];
            for (long p = 0; p < len; p++)
            {
                double v = 1;
                if (i > 0 && outSpans[i - 1].Start + outSpans[i - 1].Length - start is long up and > 0 && p < up) v = Math.Min(v, (p + 0.5) / up);
                if (i < n - 1 && start + len - outSpans[i + 1].Start is long down and > 0 && p >= len - down) v = Math.Min(v, (len - p - 0.5) / down);
                w[i][p] = v;
            }
        }
        var sum = new double[total];
        for (int i = 0; i < n; i++)
            for (long p = 0; p < w[i].Length; p++) sum[outSpans[i].Start + p] += w[i][p];
        for (int i = 0; i < n; i++)
            for (long p = 0; p < w[i].Length; p++) w[i][p] /= sum[outSpans[i].Start + p];
        return w;
    }
}

/// <summary>
/// The tiles of one frame size for one direction: input spans (latent pixels for decode, video pixels for encode),
/// their output spans and blend weights. Runs a function per tile and blends the results.
/// </summary>
internal sealed class TilePlan
{
    private readonly IReadOnlyList<(long Start, long Length)> _rows, _cols;
    private readonly double[][] _rowWeights, _colWeights;
    private readonly long _num, _den;

    private TilePlan(IReadOnlyList<(long, long)> rows, IReadOnlyList<(long, long)> cols, long num, long den)
    {
        (_rows, _cols, _num, _den) = (rows, cols, num, den);
        _rowWeights = TileAxis.Weights(rows, num, den);
        _colWeights = TileAxis.Weights(cols, num, den);
    }

    /// <summary>Number of tiles.</summary>
    public int Count => _rows.Count * _cols.Count;

    /// <summary>The plan for inputs of <paramref name="height"/> × <paramref name="width"/>, or null when <paramref name="tiling"/> leaves this size whole.</summary>
    public static TilePlan? For(SpatialTiling tiling, long height, long width, int spatialFactor, bool decode)
    {
        long f = spatialFactor, videoH = decode ? height * f : height, videoW = decode ? width * f : width;
        if (!tiling.Applies(videoH, videoW)) return null;
        long unit = decode ? f : 1, tile = tiling.TileSize / unit, overlap = tiling.Overlap / unit;
        var rows = TileAxis.Spans(height, tile, overlap);
        var cols = TileAxis.Spans(width, tile, overlap);
        return decode ? new TilePlan(rows, cols, f, 1) : new TilePlan(rows, cols, 1, f);
    }

    /// <summary>
    /// Runs <paramref name="run"/> on each tile of <paramref name="x"/> (B, C, T, H, W) in row-major order (index, crop)
    /// and blends the (B, C', T', h, w) results in Float32. A tile's result is freed as soon as it is blended in.
    /// </summary>
    public Tensor Blend(Tensor x, Func<int, Tensor, Tensor> run)
    {
        Tensor? output = null;
        int index = 0;
        for (int r = 0; r < _rows.Count; r++)
        {
            for (int c = 0; c < _cols.Count; c++, index++)
            {
                using var scope = NewDisposeScope();
                var (rs, rl) = _rows[r];
                var (cs, cl) = _cols[c];
                var crop = x.narrow(3, rs, rl).narrow(4, cs, cl).contiguous();
                var y = run(index, crop).to(ScalarType.Float32);
                if (output is null)
                {
                    long h = _rows[^1].Start * _num / _den + _rows[^1].Length * _num / _den, w = _cols[^1].Start * _num / _den + _cols[^1].Length * _num / _den;
                    output = zeros([y.shape[0], y.shape[1], y.shape[2], h, w], ScalarType.Float32, y.device).MoveToOuterDisposeScope();
                }
                var wr = tensor(_rowWeights[r], ScalarType.Float32, y.device).view(1, 1, 1, -1, 1);
                var wc = tensor(_colWeights[c], ScalarType.Float32, y.device).view(1, 1, 1, 1, -1);
                output.narrow(3, rs * _num / _den, y.shape[3]).narrow(4, cs * _num / _den, y.shape[4]).add_(y.mul(wr).mul_(wc));
            }
        }
        return output!;
    }
}
