using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace WfVae.Modules;

/// <summary>
/// Winograd F(2×2, 3×3) convolution for the 3×3 (× kt frames) stride-1, zero-padded-by-1 kernels that do almost all of
/// WF-VAE's work: every 2×2 output tile costs 16 multiplies per channel pair and temporal tap instead of 36, run as
/// 16 matrix products per output frame (Lavin &amp; Gray, 2015). Frame by frame, so it holds the transforms of at most
/// kt input frames and one output frame besides its input and output. CPU fp32 inference only; equal to the direct
/// convolution up to rounding (measured no less accurate against a float64 reference).
/// </summary>
internal static class WinogradConv
{
    // Below these sizes the matrix products are too thin to beat oneDNN's direct convolution.
    private const long MinChannels = 64;
    private const long MinTilesPerFrame = 64;

    private static readonly bool s_disabled = Environment.GetEnvironmentVariable("WFVAE_WINOGRAD") == "0";
    private static readonly Lazy<Transforms> s_transforms = new(Transforms.Create, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>
    /// Whether <paramref name="weight"/> (O, I, [kt,] 3, 3) on <paramref name="x"/> (N, I, T, H, W) runs here: a 3×3
    /// spatial kernel with stride 1 and zero padding 1, fp32 on the CPU, no autograd, contiguous layout, and
    /// enough channels and tiles for the matrix products to pay off (<c>WFVAE_WINOGRAD=0</c> turns it off).
    /// </summary>
    public static bool Applies(Tensor x, Tensor weight, long spatialStride, long spatialPadding) =>
        !s_disabled
        && spatialStride == 1 && spatialPadding == 1
        && weight.shape[^1] == 3 && weight.shape[^2] == 3
        && weight.shape[0] >= MinChannels && weight.shape[1] >= MinChannels
        && x.device_type == TorchSharp.DeviceType.CPU && x.dtype == ScalarType.Float32 && weight.dtype == ScalarType.Float32
        && Layout.AllowsInferenceRewrites(x)
        && ((x.shape[3] + 1) / 2) * ((x.shape[4] + 1) / 2) >= MinTilesPerFrame;

    /// <summary>
    /// Convolves a temporally padded sequence of frames: output frame t = Σₖ weight[:, :, k] ⋆ frames[t + k].
    /// Entries of <paramref name="frames"/> that are the same tensor object (the replicated first frame of a causal
    /// pad) are transformed once and their taps summed before the products, so repeated frames cost nothing extra.
    /// </summary>
    /// <param name="frames">(N, I, H, W) frames in time order (views are fine); at least kt of them.</param>
    /// <param name="weight">(O, I, kt, 3, 3) or (O, I, 3, 3) (kt = 1).</param>
    /// <param name="bias">(O) or null.</param>
    /// <returns>(N, O, frames − kt + 1, H, W).</returns>
    public static Tensor Conv(IReadOnlyList<Tensor> frames, Tensor weight, Tensor? bias)
    {
        var tf = s_transforms.Value;
        using var scope = NewDisposeScope();
        long kt = weight.dim() == 5 ? weight.shape[2] : 1;
        long outFrames = frames.Count - kt + 1;
        if (outFrames < 1)
            throw new InvalidOperationException($"a causal kernel of {kt} frames got {frames.Count} frames; the chunk is too short for this layer.");
        long n = frames[0].shape[0], ci = frames[0].shape[1], h = frames[0].shape[2], w = frames[0].shape[3];
        long co = weight.shape[0];
        long th = (h + 1) / 2, tw = (w + 1) / 2, tiles = th * tw;

        var u = TransformWeights(weight, kt, tf.G); // (kt, 16, O, I)
        var y = empty([n, co, outFrames, h, w], dtype: ScalarType.Float32);
        var m = empty([co, 16, tiles], dtype: ScalarType.Float32); // one output frame's transform, reused

        // Last output frame that reads each distinct frame object: its transform is freed right after.
        var lastUse = new Dictionary<Tensor, long>(ReferenceEqualityComparer.Instance);
        for (int j = 0; j < frames.Count; j++) lastUse[frames[j]] = Math.Min(j, outFrames - 1);

        for (long b = 0; b < n; b++)
        {
            var transformed = new Dictionary<Tensor, Tensor>(ReferenceEqualityComparer.Instance);
            for (long t = 0; t < outFrames; t++)
            {
                // Taps grouped by source frame: a frame seen through several taps is multiplied once by their sum.
                var groups = new List<(Tensor V, List<long> Taps)>();
                for (long k = 0; k < kt; k++)
                {
                    var f = frames[(int)(t + k)];
                    if (!transformed.TryGetValue(f, out var v))
                        transformed[f] = v = TransformInput(f, b, th, tw, tf.InputTransform);
                    int g = groups.FindIndex(e => ReferenceEquals(e.V, v));
                    if (g < 0) groups.Add((v, [k]));
                    else groups[g].Taps.Add(k);
                }

                for (long p = 0; p < 16; p++)
                {
                    using var mp = m.select(1, p); // (O, tiles), row stride 16·tiles: written in place by addmm_
                    bool first = true;
                    foreach (var (v, taps) in groups)
                    {
                        using var up = TapSum(u, taps, p);
                        using var vp = v.select(1, p); // (I, tiles)
                        mp.addmm_(up, vp, beta: first ? 0 : 1);
                        first = false;
                    }
                }

                using (var mt = m.view(co, 16, th, tw))
                using (var full = F.conv_transpose2d(mt, tf.OutputTransform, null, [2, 2])) // (O, 1, 2·th, 2·tw)
                using (var crop = full.select(1, 0).narrow(1, 0, h).narrow(2, 0, w))
                using (var dst = y.select(0, b).select(1, t))
                    dst.copy_(crop);

                foreach (var (f, last) in lastUse)
                    if (last == t && transformed.Remove(f, out var done)) done.Dispose();
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

    /// <summary>U = G·g·Gᵀ per temporal tap, as (kt, 16, O, I) so each point's (O, I) matrix is contiguous.</summary>
    private static Tensor TransformWeights(Tensor weight, long kt, Tensor g)
    {
        using var scope = NewDisposeScope();
        long co = weight.shape[0], ci = weight.shape[1];
        var taps = new Tensor[kt];
        for (long k = 0; k < kt; k++)
        {
            using var wk = weight.dim() == 5 ? weight.select(2, k) : weight.alias(); // (O, I, 3, 3)
            using var gw = matmul(g, wk);                                         // (O, I, 4, 3)
            using var gt = g.t();
            using var u = matmul(gw, gt);                                          // (O, I, 4, 4)
            using var flat = u.view(co, ci, 16);
            using var pm = flat.permute(2, 0, 1);
            taps[k] = pm.contiguous();                                             // (16, O, I)
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

    /// <summary>Bᵀ·d·B of every 4×4 input tile (stride 2) of batch item b: (I, 16, tiles).</summary>
    private static Tensor TransformInput(Tensor frame, long b, long th, long tw, Tensor inputTransform)
    {
        long h = frame.shape[2], w = frame.shape[3];
        using var fb = frame.select(0, b);                                  // (I, H, W)
        using var padded = F.pad(fb, [1, 1 + 2 * tw - w, 1, 1 + 2 * th - h]); // (I, 2·th + 2, 2·tw + 2)
        using var planes = padded.unsqueeze(1);                             // channels as a batch of 1-channel images
        using var v = F.conv2d(planes, inputTransform, strides: [2, 2]);     // (I, 16, th, tw)
        return v.reshape(v.shape[0], 16, th * tw);
    }

    /// <summary>The fixed F(2×2, 3×3) transform matrices, as conv kernels where that is how they are applied.</summary>
    private sealed record Transforms(Tensor G, Tensor InputTransform, Tensor OutputTransform)
    {
        public static Transforms Create()
        {
            float[,] g = { { 1, 0, 0 }, { 0.5f, 0.5f, 0.5f }, { 0.5f, -0.5f, 0.5f }, { 0, 0, 1 } };
            float[,] bt = { { 1, 0, -1, 0 }, { 0, 1, 1, 0 }, { 0, -1, 1, 0 }, { 0, 1, 0, -1 } };
            float[,] at = { { 1, 1, 1, 0 }, { 0, 1, -1, -1 } };
            var input = new float[16 * 16];   // (16 points, 1, 4, 4): point (a, c) = Bᵀ[a, i]·Bᵀ[c, j]
            var output = new float[16 * 4];   // (16 points, 1, 2, 2): pixel (r, s) gets Aᵀ[r, a]·Aᵀ[s, c]
            for (int a = 0; a < 4; a++)
            for (int c = 0; c < 4; c++)
            {
                int p = a * 4 + c;
                for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++)
                    input[p * 16 + i * 4 + j] = bt[a, i] * bt[c, j];
                for (int r = 0; r < 2; r++)
                for (int s = 0; s < 2; s++)
                    output[p * 4 + r * 2 + s] = at[r, a] * at[s, c];
            }
            var gFlat = new float[12];
            for (int i = 0; i < 4; i++) for (int j = 0; j < 3; j++) gFlat[i * 3 + j] = g[i, j];
            return new Transforms(
                tensor(gFlat, [4, 3]).DetachFromDisposeScope(),
                tensor(input, [16, 1, 4, 4]).DetachFromDisposeScope(),
                tensor(output, [16, 1, 2, 2]).DetachFromDisposeScope());
        }
    }
}
