using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace WfVae.Modules;

/// <summary>
/// Winograd convolution (Lavin &amp; Gray, 2015) for the 3×3 (× kt frames) stride-1, zero-padded-by-1 kernels that do
/// almost all of WF-VAE's work: F(2×2, 3×3) computes each 2×2 output tile with 16 multiplies per channel pair and
/// temporal tap instead of 36, F(4×4, 3×3) each 4×4 tile with 36 instead of 144, as one matrix product per transform
/// point and tap. Frame by frame (large frames in bands of tile rows), so besides its input and output it holds one
/// conv's transformed kernel, the input transforms of about kt frames and one output frame's transform; short chunks
/// keep their input transforms and transform the kernel in output-channel blocks instead. CPU fp32 inference only;
/// equal to the direct convolution up to rounding (against the official WF-VAE-L it stays as close as the direct
/// convolution, docs/bench.md).
/// </summary>
internal static class WinogradConv
{
    // Below these sizes the matrix products are too thin to beat oneDNN's direct convolution.
    private const long MinChannels = 64;
    private const long MinPixelsPerFrame = 256;
    // From this frame size on, 4×4 output tiles (F(4×4, 3×3): 2.25 instead of 4 multiplies per output) keep the
    // products wide enough to win; below it 2×2 tiles are faster (measured on WF-VAE-L layer shapes, docs/bench.md).
    private const long MinPixelsForLargeTiles = 64 * 64;
    private static readonly Lazy<Transforms> s_small = new(() => Transforms.Create(2), LazyThreadSafetyMode.ExecutionAndPublication);
    private static readonly Lazy<Transforms> s_large = new(() => Transforms.Create(4), LazyThreadSafetyMode.ExecutionAndPublication);

    private static Transforms ForFrameSize(long h, long w, int? forcedTile) => forcedTile switch
    {
        2 => s_small.Value,
        4 => s_large.Value,
        _ => h * w >= MinPixelsForLargeTiles ? s_large.Value : s_small.Value,
    };

    /// <summary>
    /// Whether <paramref name="weight"/> (O, I, kt, 3, 3) on <paramref name="x"/> (N, I, T, H, W) runs here: a 3×3
    /// spatial kernel with stride 1 and zero padding 1, fp32 on the CPU, no autograd, contiguous layout, and
    /// enough channels and tiles for the matrix products to pay off, and <see cref="WfVaeInferenceOptions.Winograd"/> on.
    /// </summary>
    public static bool Applies(Tensor x, Tensor weight, long spatialStride, long spatialPadding, ForwardPass pass) =>
        pass.Options.Winograd
        && spatialStride == 1 && spatialPadding == 1
        && weight.dim() == 5 && weight.shape[^1] == 3 && weight.shape[^2] == 3
        && weight.shape[0] >= MinChannels && weight.shape[1] >= MinChannels
        && x.device_type == TorchSharp.DeviceType.CPU && x.dtype == ScalarType.Float32 && weight.dtype == ScalarType.Float32
        && pass.AllowsRewrites(x)
        && x.shape[3] * x.shape[4] >= MinPixelsPerFrame;

    /// <summary>
    /// Convolves a temporally padded sequence of frames: output frame t = Σₖ weight[:, :, k] ⋆ frames[t + k].
    /// Entries of <paramref name="frames"/> that are the same tensor object (the replicated first frame of a causal
    /// pad) are transformed once and their taps summed before the products, so repeated frames cost nothing extra.
    /// </summary>
    /// <param name="frames">(N, I, H, W) frames in time order (views are fine); at least kt of them.</param>
    /// <param name="weight">(O, I, kt, 3, 3).</param>
    /// <param name="bias">(O) or null.</param>
    /// <param name="options">Tile choice and band limits.</param>
    /// <returns>(N, O, frames − kt + 1, H, W).</returns>
    public static Tensor Conv(IReadOnlyList<Tensor> frames, Tensor weight, Tensor? bias, WfVaeInferenceOptions options)
    {
        using var scope = NewDisposeScope();
        long kt = weight.shape[2];
        long outFrames = frames.Count - kt + 1;
        if (outFrames < 1)
            throw new InvalidOperationException($"a causal kernel of {kt} frames got {frames.Count} frames; the chunk is too short for this layer.");
        long n = frames[0].shape[0], ci = frames[0].shape[1], h = frames[0].shape[2], w = frames[0].shape[3];
        var tf = ForFrameSize(h, w, options.WinogradTile);
        long co = weight.shape[0];
        int tile = tf.Tile, points = tf.Points;
        long th = (h + tile - 1) / tile, tw = (w + tile - 1) / tile;
        long bandRows = BandRows(ci, points, th, tw, options);
        long distinctFrames = frames.Distinct(ReferenceEqualityComparer.Instance).LongCount();
        long blockO = OutputBlock(co, ci, kt, points, bandRows * tw, distinctFrames);
        bool rolling = blockO == co; // else every frame's transform is kept while the weights go block by block

        var y = empty([n, co, outFrames, h, w], dtype: ScalarType.Float32);
        var m = empty([blockO, points, bandRows * tw], dtype: ScalarType.Float32); // one output frame's transform, reused
        var whole = rolling ? TransformWeights(weight, kt, tf.KernelTransform) : null; // (kt, points, O, I)

        // Last output frame that reads each distinct frame object: when rolling, its transform is freed right after.
        var lastUse = new Dictionary<Tensor, long>(ReferenceEqualityComparer.Instance);
        for (int j = 0; j < frames.Count; j++) lastUse[frames[j]] = Math.Min(j, outFrames - 1);

        for (long b = 0; b < n; b++)
        for (long r0 = 0; r0 < th; r0 += bandRows)
        {
            long rows = Math.Min(bandRows, th - r0), tiles = rows * tw;
            long y0 = r0 * tile, yRows = Math.Min(rows * tile, h - y0); // output rows of this band
            var transformed = new Dictionary<Tensor, Tensor>(ReferenceEqualityComparer.Instance);
            for (long o0 = 0; o0 < co; o0 += blockO)
            {
                long ob = Math.Min(blockO, co - o0);
                Tensor u;
                if (rolling) u = whole!;
                else
                {
                    using var wb = weight.narrow(0, o0, ob);
                    u = TransformWeights(wb, kt, tf.KernelTransform);
                }
                using var mb = m.narrow(0, 0, ob).narrow(2, 0, tiles);
                for (long t = 0; t < outFrames; t++)
                {
                    // Taps grouped by source frame: a frame seen through several taps is multiplied once by their sum.
                    var groups = new List<(Tensor V, List<long> Taps)>();
                    for (long k = 0; k < kt; k++)
                    {
                        var f = frames[(int)(t + k)];
                        if (!transformed.TryGetValue(f, out var v))
                            transformed[f] = v = TransformInput(f, b, r0, rows, th, tw, tf);
                        int g = groups.FindIndex(e => ReferenceEquals(e.V, v));
                        if (g < 0) groups.Add((v, [k]));
                        else groups[g].Taps.Add(k);
                    }

                    for (long p = 0; p < points; p++)
                    {
                        using var mp = mb.select(1, p); // (ob, tiles), row stride points·bandRows·tw: written in place by addmm_
                        bool first = true;
                        foreach (var (v, taps) in groups)
                        {
                            using var up = TapSum(u, taps, p);
                            using var vp = v.select(1, p); // (I, tiles)
                            mp.addmm_(up, vp, beta: first ? 0 : 1);
                            first = false;
                        }
                    }

                    using (var mc = mb.contiguous())
                    using (var mt = mc.view(ob, points, 1, rows, tw))
                    using (var full = BlockUnfold.Apply(mt, tf.OutputTransform)) // (ob, 1, 1, tile·rows, tile·tw)
                    using (var crop = full.select(1, 0).select(1, 0).narrow(1, 0, yRows).narrow(2, 0, w))
                    using (var dst = y.select(0, b).narrow(0, o0, ob).select(1, t).narrow(1, y0, yRows))
                        dst.copy_(crop);

                    if (rolling)
                        foreach (var (f, last) in lastUse)
                            if (last == t && transformed.Remove(f, out var done)) done.Dispose();
                }
                if (!rolling) u.Dispose();
            }
            foreach (var v in transformed.Values) v.Dispose();
        }
        if (bias is not null)
        {
            using var bv = bias.view(1, co, 1, 1, 1);
            y.add_(bv);
        }
        return scope.MoveToOuter(y);
    }

    /// <summary>Tile rows per band: the whole frame unless one frame's input transform is large.</summary>
    internal static long BandRows(long ci, long points, long th, long tw, WfVaeInferenceOptions options)
    {
        // Large frames are done in bands of tile rows so one frame's input transform stays near the element limit
        // (16 MB by default), unless that would make the products narrower than the fewest tiles.
        long elements = options.WinogradBandElements, minTiles = options.WinogradBandMinTiles;
        long perRow = ci * points * tw;
        long rows = Math.Max(elements / perRow, (minTiles + tw - 1) / tw);
        return Math.Clamp(rows, 1, th);
    }

    /// <summary>
    /// Output channels per block. The transformed weights (kt·points·O·I) outweigh the input transforms of a short
    /// chunk, so for chunks whose frames' transforms are smaller, those are kept for the whole call and the weights
    /// are transformed one output block at a time (same work, less memory); long inputs roll frame by frame instead.
    /// </summary>
    internal static long OutputBlock(long co, long ci, long kt, long points, long tiles, long distinctFrames)
    {
        long weights = kt * points * co * ci;              // elements of the whole transformed kernel
        long inputs = distinctFrames * ci * points * tiles; // elements of every frame's input transform
        long rolling = weights + (kt + 1) * ci * points * tiles;
        if (3 * inputs >= 2 * rolling) return co; // blocks of ~½ the inputs hold ~1.5× the inputs in all
        long blocks = Math.Min((2 * weights + inputs - 1) / Math.Max(inputs, 1), Math.Max(1, co / MinChannels)); // blocks of ~½ the inputs
        return blocks <= 1 ? co : (co + blocks - 1) / blocks;
    }

    /// <summary>
    /// U = G·g·Gᵀ of every 3×3 kernel, as (kt, points, O, I) so each point's (O, I) matrix is contiguous: one matrix
    /// product per temporal tap, (G ⊗ G) (points × 9) times the kernels (9 × O·I).
    /// </summary>
    private static Tensor TransformWeights(Tensor weight, long kt, Tensor gg)
    {
        using var scope = NewDisposeScope();
        long co = weight.shape[0], ci = weight.shape[1];
        var taps = new Tensor[kt];
        for (long k = 0; k < kt; k++)
        {
            using var wk = weight.select(2, k);                                    // (O, I, 3, 3)
            using var flat = wk.reshape(co * ci, 9);                              // a copy (the tap is strided)
            using var u = gg.mm(flat.t());                                         // (points, O·I)
            taps[k] = u.view(-1, co, ci);
        }
        return scope.MoveToOuter(stack(taps, 0));
    }

    /// <summary>The (O, I) weight matrix of point <paramref name="p"/> summed over <paramref name="taps"/>.</summary>
    private static Tensor TapSum(Tensor u, List<long> taps, long p)
    {
        Tensor sum;
        using (var first = u.select(0, taps[0]))
        {
            if (taps.Count == 1) return first.select(0, p);
            using var fp = first.select(0, p);
            sum = fp.clone();
        }
        for (int i = 1; i < taps.Count; i++)
        {
            using var tk = u.select(0, taps[i]);
            using var tp = tk.select(0, p);
            sum.add_(tp);
        }
        return sum;
    }

    /// <summary>Bᵀ·d·B of the α×α input tiles (stride = output tile) in tile rows [r0, r0 + rows) of batch item b: (I, α², rows·tw).</summary>
    private static Tensor TransformInput(Tensor frame, long b, long r0, long rows, long th, long tw, Transforms tf)
    {
        long h = frame.shape[2], w = frame.shape[3];
        int tile = tf.Tile;
        // Padded rows r0·tile … (r0 + rows)·tile + 1 are input rows r0·tile − 1 … (r0 + rows)·tile; zeros outside the frame.
        long first = r0 * tile - 1, last = (r0 + rows) * tile;        // inclusive input rows
        long from = Math.Max(first, 0), to = Math.Min(last, h - 1);
        using var fb = frame.select(0, b);                              // (I, H, W)
        using var band = fb.narrow(1, from, to - from + 1);
        using var padded = F.pad(band, [1, 1 + tile * tw - w, from - first, last - to]); // (I, tile·rows + 2, tile·tw + 2)
        using var planes = padded.unsqueeze(1);                         // channels as a batch of 1-channel images
        using var v = F.conv2d(planes, tf.InputTransform, strides: [tile, tile]); // (I, α², rows, tw)
        return v.reshape(v.shape[0], tf.Points, rows * tw);
    }

    /// <summary>The fixed F(m×m, 3×3) transform matrices (α = m + 2 points per axis), as conv kernels where that is how they are applied.</summary>
    private sealed record Transforms(int Tile, Tensor KernelTransform, Tensor InputTransform, Tensor OutputTransform)
    {
        public int Points => (Tile + 2) * (Tile + 2);

        public static Transforms Create(int tile)
        {
            // Toom-Cook matrices (G, Bᵀ, Aᵀ) for interpolation points 0, ±1, ∞ (F(2, 3), Lavin & Gray's) and:
            float[,] g, bt, at;
            if (tile == 2)
            {
                g = new float[,] { { 1, 0, 0 }, { 0.5f, 0.5f, 0.5f }, { 0.5f, -0.5f, 0.5f }, { 0, 0, 1 } };
                bt = new float[,] { { 1, 0, -1, 0 }, { 0, 1, 1, 0 }, { 0, -1, 1, 0 }, { 0, 1, 0, -1 } };
                at = new float[,] { { 1, 1, 1, 0 }, { 0, 1, -1, -1 } };
            }
            else
            {
                // Points 0, 1, −1, 2, −1/2, ∞: about 3× less rounding error than Lavin's 0, ±1, ±2 (Barabasz et al., 2020).
                g = new float[,] { { 1, 0, 0 }, { -1 / 3f, -1 / 3f, -1 / 3f }, { 1 / 3f, -1 / 3f, 1 / 3f },
                                   { 1 / 15f, 2 / 15f, 4 / 15f }, { -16 / 15f, 8 / 15f, -4 / 15f }, { 0, 0, 1 } };
                bt = new float[,] { { 1, 1.5f, -2, -1.5f, 1, 0 }, { 0, -1, -2.5f, -0.5f, 1, 0 }, { 0, 1, 0.5f, -2.5f, 1, 0 },
                                    { 0, -0.5f, -1, 0.5f, 1, 0 }, { 0, 2, -1, -2, 1, 0 }, { 0, 1, 1.5f, -2, -1.5f, 1 } };
                at = new float[,] { { 1, 1, 1, 1, 1, 0 }, { 0, 1, -1, 2, -0.5f, 0 }, { 0, 1, 1, 4, 0.25f, 0 }, { 0, 1, -1, 8, -0.125f, 1 } };
            }
            int alpha = tile + 2, points = alpha * alpha;
            var input = new float[points * points];    // (points, 1, α, α): point (a, c) = Bᵀ[a, i]·Bᵀ[c, j]
            var output = new float[points * tile * tile]; // (points, 1, 1, m, m): pixel (r, s) gets Aᵀ[r, a]·Aᵀ[s, c]
            for (int a = 0; a < alpha; a++)
            for (int c = 0; c < alpha; c++)
            {
                int p = a * alpha + c;
                for (int i = 0; i < alpha; i++)
                for (int j = 0; j < alpha; j++)
                    input[p * points + i * alpha + j] = bt[a, i] * bt[c, j];
                for (int r = 0; r < tile; r++)
                for (int s = 0; s < tile; s++)
                    output[p * tile * tile + r * tile + s] = at[r, a] * at[s, c];
            }
            var kernel = new float[points * 9];  // (points, 9): point (a, c) = G[a, i]·G[c, j]
            for (int a = 0; a < alpha; a++)
            for (int c = 0; c < alpha; c++)
            for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                kernel[(a * alpha + c) * 9 + i * 3 + j] = g[a, i] * g[c, j];
            return new Transforms(
                tile,
                tensor(kernel, [points, 9]).DetachFromDisposeScope(),
                tensor(input, [points, 1, alpha, alpha]).DetachFromDisposeScope(),
                tensor(output, [points, 1, 1, tile, tile]).DetachFromDisposeScope());
        }
    }
}
