using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace WfVae.Modules;

/// <summary>
/// A block that runs on (B, C, T, H, W) video, optionally one chunk at a time with a caller-owned cache:
/// <c>forward(x, pass)</c> runs on one chunk, <c>pass</c> carrying the cache (null: the whole video in one
/// call) and the inference options. Callers use <c>call</c>, so forward hooks (the profiler's) see every block.
/// </summary>
internal abstract class CausalBlock : nn.Module<Tensor, ForwardPass, Tensor>
{
    protected CausalBlock(string name) : base(name) { }

    /// <summary>
    /// Like <c>call(x, pass)</c>, hooks included, for a caller that no longer needs <paramref name="x"/>: blocks that
    /// copy their input first (causal padding) dispose the handles in <paramref name="release"/> right after the copy,
    /// so the input's storage is freed before the convolution allocates its output. Post-hooks see x released.
    /// </summary>
    public Tensor CallReleasing(Tensor x, ForwardPass pass, params Tensor[] release)
    {
        // The hook order of TorchSharp's call(x, pass), around the releasing forward.
        foreach (var hook in module_pre_hooks.Values) hook(this);
        foreach (var hook in pre_hooks.Values)
            if (hook(this, x, pass) is { } changed) (x, pass) = changed;
        var y = ForwardReleasing(x, pass, release);
        foreach (var hook in post_hooks.Values) y = hook(this, x, pass, y) ?? y;
        foreach (var hook in module_post_hooks.Values) hook(this);
        return y;
    }

    /// <summary>The forward behind <see cref="CallReleasing"/>; blocks that copy their input first override it.</summary>
    protected virtual Tensor ForwardReleasing(Tensor x, ForwardPass pass, Tensor[] release) => forward(x, pass);
}

/// <summary>Holds a conv's <c>weight</c> (and optional <c>bias</c>) under the PyTorch names.</summary>
internal sealed class ConvWeights : nn.Module
{
    public Parameter weight;
    public Parameter? bias;

    public ConvWeights(long outCh, long inCh, long[] kernel, bool hasBias, bool trainable = true) : base("ConvWeights")
    {
        var shape = new long[] { outCh, inCh }.Concat(kernel).ToArray();
        // Zeros, not random: loading overwrites them and WfVaeModel.Create draws them from its own generator.
        weight = Parameters.Create(torch.zeros(shape), trainable);
        register_parameter("weight", weight);
        if (hasBias)
        {
            bias = Parameters.Create(torch.zeros(outCh), trainable);
            register_parameter("bias", bias);
        }
    }

    /// <summary>PyTorch's default Conv init of an (out, in, k…) weight and its bias, drawn from <paramref name="generator"/>: kaiming_uniform(a=√5) ⇒ U(±1/√fanIn), same bound for the bias.</summary>
    public static void InitialiseDefault(Tensor weight, Tensor? bias, Generator generator)
    {
        long fanIn = weight.shape.Skip(1).Aggregate(1L, (a, b) => a * b);
        double bound = 1.0 / Math.Sqrt(fanIn);
        using var _ = torch.no_grad();
        weight.uniform_(-bound, bound, generator);
        bias?.uniform_(-bound, bound, generator);
    }
}

/// <summary>
/// Conv3d with causal temporal padding (official <c>CausalConv3d</c>): the first chunk is front-padded with
/// kt−1 copies of frame 0; later chunks with the tail of the previous chunk's padded input.
/// </summary>
internal sealed class CausalConv3d : CausalBlock
{
    private readonly ConvWeights conv;
    private readonly long _kt, _st;
    private readonly long[] _stride, _padding;

    public CausalConv3d(long inCh, long outCh, long kernel, long stride = 1, long padding = 0, bool bias = true)
        : base(nameof(CausalConv3d))
    {
        _kt = kernel;
        _st = stride;
        _stride = [stride, stride, stride];
        _padding = [0, padding, padding];
        conv = new ConvWeights(outCh, inCh, [kernel, kernel, kernel], bias);
        register_module("conv", conv);
    }

    public Tensor Weight => conv.weight;
    public Tensor? Bias => conv.bias;

    public override Tensor forward(Tensor x, ForwardPass pass) => ForwardReleasing(x, pass, []);

    protected override Tensor ForwardReleasing(Tensor x, ForwardPass pass, Tensor[] release)
    {
        Tensor y;
        if (_st == 1 && WinogradConv.Applies(x, conv.weight, _stride[1], _padding[1], pass))
        {
            y = ConvWinograd(x, pass);
            foreach (var r in release) r.Dispose();
        }
        else if (CanFoldReplicatedFrames(x, pass))
        {
            y = ConvFoldingReplicatedFrames(x, pass);
            foreach (var r in release) r.Dispose();
        }
        else
        {
            using var padded = CausalTime.Pad(this, x, pass, _kt, _st);
            foreach (var r in release) r.Dispose();
            y = ChannelPaddedConv.Conv3d(pass, padded, conv.weight, conv.bias, _stride, _padding);
        }
        return y;
    }

    /// <summary>
    /// <see cref="WinogradConv"/> over the causally padded frame sequence, built from views (no padded copy): the
    /// first chunk's kt−1 copies of frame 0 are the same view, so they are transformed once and their taps folded.
    /// </summary>
    private Tensor ConvWinograd(Tensor x, ForwardPass pass)
    {
        using var scope = torch.NewDisposeScope();
        long t = x.shape[2];
        bool started = pass.Cache is not null && pass.Cache!.HasState(this);
        var tail = started ? pass.Cache!.Get(this) : null;
        var frames = new List<Tensor>();
        if (tail is not null)
            for (long i = 0; i < tail.shape[2]; i++) frames.Add(tail.select(2, i));
        var inputFrames = Enumerable.Range(0, (int)t).Select(i => x.select(2, i)).ToArray();
        if (!started)
            for (long i = 0; i < _kt - 1; i++) frames.Add(inputFrames[0]);
        frames.AddRange(inputFrames);
        var y = WinogradConv.Conv(frames, conv.weight, conv.bias, pass.Options);
        if (pass.Cache is not null)
        {
            // What the padded path stores: the last kt−1 frames of the padded sequence.
            if (_kt > 1) pass.Cache!.Set(this, torch.stack(frames.Skip(frames.Count - (int)(_kt - 1)), 2));
            else pass.Cache!.Set(this, null);
        }
        return scope.MoveToOuter(y);
    }

    /// <summary>
    /// The first chunk (or whole video) is front-padded with kt−1 copies of frame 0, so the first kt−1 output frames
    /// see frame 0 several times: folding those taps into one kernel skips convolving the copies (same result up to
    /// summation order; WF-VAE-L decode of 17 frames does ~10% fewer multiply-accumulates). Inference, fp32 layout only.
    /// </summary>
    private bool CanFoldReplicatedFrames(Tensor x, ForwardPass pass) =>
        _kt > 1 && _st == 1 && pass.Options.FoldReplicatedFrames && pass.AllowsRewrites(x) && (pass.Cache is null || !pass.Cache!.HasState(this));

    private Tensor ConvFoldingReplicatedFrames(Tensor x, ForwardPass pass)
    {
        using var scope = torch.NewDisposeScope();
        long t = x.shape[2];
        var w = conv.weight;
        long[] stride = [1, _stride[1], _stride[2]];
        var parts = new List<Tensor>();
        // Output frame j < kt−1 sees frame 0 through taps 0..kt−1−j (summed) and frames 1..j through the last j taps.
        for (long j = 0; j < Math.Min(_kt - 1, t); j++)
        {
            var folded = w.narrow(2, 0, _kt - j).sum(2, keepdim: true);
            var kernel = j == 0 ? folded : torch.cat([folded, w.narrow(2, _kt - j, j)], 2);
            parts.Add(ChannelPaddedConv.Conv3d(pass, x.narrow(2, 0, j + 1), kernel, conv.bias, stride, _padding));
        }
        if (t >= _kt) parts.Add(ChannelPaddedConv.Conv3d(pass, x, w, conv.bias, stride, _padding));
        var y = parts.Count == 1 ? parts[0] : torch.cat(parts, 2);
        if (pass.Cache is not null)
        {
            // What the padded path stores: the last kt−1 frames of [frame 0 × (kt−1), x].
            long keep = _kt - 1;
            var tail = t >= keep ? x.narrow(2, t - keep, keep) : torch.cat([x.narrow(2, 0, 1).expand(-1, -1, keep - t, -1, -1), x], 2);
            pass.Cache!.Set(this, tail);
        }
        return scope.MoveToOuter(y);
    }
}

/// <summary>
/// Memory layout helpers. Channels-last (N, T, H, W, C in memory, PyTorch's channels_last_3d strides) lets oneDNN run
/// its direct channels-last kernels without reorders and LayerNorm run over contiguous channels; the contiguous
/// (N, C, T, H, W) layout lets oneDNN reorder to its blocked format, which measured faster for fp32 on AVX-512
/// (docs/bench.md). Which one a call uses is <see cref="ForwardPass.UseChannelsLast"/>.
/// </summary>
internal static class Layout
{
    /// <summary>x (B, C, T, H, W) with channels-last strides: a no-op alias when it already has them, else one copy.</summary>
    public static Tensor ToChannelsLast(Tensor x)
    {
        using var p = x.permute(0, 2, 3, 4, 1);
        using var c = p.contiguous();
        return c.permute(0, 4, 1, 2, 3);
    }
}

/// <summary>Shared causal front-padding and tail bookkeeping for strided temporal kernels.</summary>
internal static class CausalTime
{
    /// <summary>
    /// Returns x front-padded in time (replicated frame 0 on the first chunk, cached tail afterwards) and stores
    /// the frames the next chunk's first output window needs: everything from the first window start
    /// this chunk did not use.
    /// </summary>
    public static Tensor Pad(object owner, Tensor x, ForwardPass pass, long kt, long st)
    {
        var cache = pass.Cache;
        Tensor padded;
        var tail0 = cache is not null && cache.HasState(owner) ? cache.Get(owner) : null;
        bool front = tail0 is not null || (kt > 1 && (cache is null || !cache.HasState(owner)));
        if (!front)
        {
            padded = pass.UseChannelsLast(x) ? Layout.ToChannelsLast(x) : x.alias();
        }
        else if (pass.UseChannelsLast(x))
        {
            // Concatenate in (B, T, H, W, C) order so the padded copy comes out channels-last (the only copy made).
            using var xp = x.permute(0, 2, 3, 4, 1);
            using var first = xp.narrow(1, 0, 1);
            using var head = tail0 is not null ? tail0.permute(0, 2, 3, 4, 1) : first.expand(-1, kt - 1, -1, -1, -1);
            using var cat = torch.cat([head, xp], 1);
            padded = cat.permute(0, 4, 1, 2, 3);
        }
        else if (tail0 is not null)
        {
            padded = torch.cat([tail0, x], 2);
        }
        else
        {
            using var first = x.narrow(2, 0, 1);
            using var rep = first.expand(-1, -1, kt - 1, -1, -1);
            padded = torch.cat([rep, x], 2);
        }

        long len = padded.shape[2];
        if (len < kt)
            throw new InvalidOperationException($"a causal kernel of {kt} frames got {len} frames; the chunk is too short for this layer.");
        if (cache is not null)
        {
            long used = ((len - kt) / st + 1) * st;
            if (used < len)
            {
                using var tail = padded.narrow(2, used, len - used);
                cache.Set(owner, tail);
            }
            else cache.Set(owner, null);
        }
        return padded;
    }
}

/// <summary>
/// The official <c>Conv2d</c>/<c>nn.Conv2d</c> applied frame by frame; run as a conv3d with a 1-frame kernel so the
/// (B, C, T, H, W) layout needs no permute. Keys <c>weight</c>/<c>bias</c> (no <c>.conv</c>).
/// </summary>
internal sealed class FrameConv2d : CausalBlock
{
    public readonly Parameter weight;
    public readonly Parameter bias;
    private readonly long[] _stride, _padding;

    public FrameConv2d(long inCh, long outCh, long kernel, long stride = 1, long padding = 0) : base(nameof(FrameConv2d))
    {
        var w = new ConvWeights(outCh, inCh, [kernel, kernel], true);
        weight = w.weight;
        bias = w.bias!;
        register_parameter("weight", weight);
        register_parameter("bias", bias);
        _stride = [1, stride, stride];
        _padding = [0, padding, padding];
    }

    public override Tensor forward(Tensor x, ForwardPass pass)
    {
        // Not WinogradConv: with a single tap its transforms cost as much as the products (measured slower for
        // WF-VAE-L's 192-channel 2D blocks at 128×128), so per-frame convs stay direct.
        using var w = weight.unsqueeze(2);
        using var xin = pass.UseChannelsLast(x) ? Layout.ToChannelsLast(x) : x.alias();
        return ChannelPaddedConv.Conv3d(pass, xin, w, bias, _stride, _padding);
    }
}

/// <summary>Affine parameters of the LayerNorm wrapper (official keys <c>X.norm.weight</c>, <c>X.norm.bias</c>).</summary>
internal sealed class AffineParams : nn.Module
{
    public readonly Parameter weight;
    public readonly Parameter bias;

    public AffineParams(long channels) : base("LayerNorm")
    {
        weight = Parameters.Create(torch.ones(channels));
        bias = Parameters.Create(torch.zeros(channels));
        register_parameter("weight", weight);
        register_parameter("bias", bias);
    }
}

/// <summary>
/// The official <c>Normalize</c>: LayerNorm over channels per voxel (keys <c>norm.weight</c>) or GroupNorm(32)
/// (keys <c>weight</c>); GroupNorm statistics are per frame inside 2D blocks and over all frames in 3D blocks.
/// </summary>
internal sealed class ChannelNorm : nn.Module<Tensor, Tensor>
{
    private readonly NormType _type;
    private readonly bool _perFrame;
    private readonly long _channels;
    private readonly AffineParams? norm;
    private readonly Parameter? weight;
    private readonly Parameter? bias;
    private const double Eps = 1e-6;

    public ChannelNorm(long channels, NormType type, bool perFrame) : base(nameof(ChannelNorm))
    {
        _type = type;
        _perFrame = perFrame;
        _channels = channels;
        if (type == NormType.LayerNorm)
        {
            norm = new AffineParams(channels);
            register_module("norm", norm);
        }
        else
        {
            weight = Parameters.Create(torch.ones(channels));
            bias = Parameters.Create(torch.zeros(channels));
            register_parameter("weight", weight);
            register_parameter("bias", bias);
        }
    }

    public override Tensor forward(Tensor x)
    {
        if (_type == NormType.LayerNorm)
        {
            // Channels-last view: free when x is already channels-last (every conv output after the first norm is),
            // so LayerNorm runs over contiguous channels and hands back a channels-last view without a copy.
            // Under bf16 the affine parameters stay Float32 and layer_norm computes its statistics in Float32.
            using var cl = x.permute(0, 2, 3, 4, 1);
            using var y = F.layer_norm(cl, [_channels], norm!.weight, norm.bias, Eps);
            return y.permute(0, 4, 1, 2, 3);
        }
        if (!_perFrame) return F.group_norm(x, 32, weight, bias, Eps);
        long b = x.shape[0], c = x.shape[1], t = x.shape[2], h = x.shape[3], w = x.shape[4];
        using var frames = x.transpose(1, 2).reshape(b * t, c, h, w);
        using var n = F.group_norm(frames, 32, weight, bias, Eps);
        return n.reshape(b, t, c, h, w).transpose(1, 2);
    }
}

/// <summary>
/// Official <c>ResnetBlock2D</c> (per-frame 3×3 convs) or <c>ResnetBlock3D</c> (causal 3×3×3 convs):
/// norm → SiLU → conv1 → norm → SiLU → dropout → conv2, plus a 1×1 shortcut when widths differ.
/// </summary>
internal sealed class ResnetBlock : CausalBlock
{
    private readonly ChannelNorm norm1, norm2;
    private readonly CausalBlock conv1, conv2;
    private readonly CausalBlock? nin_shortcut;
    private readonly double _dropout;

    public ResnetBlock(long inCh, long outCh, NormType normType, double dropout, bool is3d) : base(is3d ? "ResnetBlock3D" : "ResnetBlock2D")
    {
        _dropout = dropout;
        norm1 = new ChannelNorm(inCh, normType, perFrame: !is3d);
        conv1 = is3d ? new CausalConv3d(inCh, outCh, 3, 1, 1) : new FrameConv2d(inCh, outCh, 3, 1, 1);
        norm2 = new ChannelNorm(outCh, normType, perFrame: !is3d);
        conv2 = is3d ? new CausalConv3d(outCh, outCh, 3, 1, 1) : new FrameConv2d(outCh, outCh, 3, 1, 1);
        register_module("norm1", norm1);
        register_module("conv1", conv1);
        register_module("norm2", norm2);
        register_module("conv2", conv2);
        if (inCh != outCh)
        {
            nin_shortcut = is3d ? new CausalConv3d(inCh, outCh, 1) : new FrameConv2d(inCh, outCh, 1);
            register_module("nin_shortcut", nin_shortcut);
        }
    }

    public override Tensor forward(Tensor x, ForwardPass pass)
    {
        // Every intermediate is released as soon as the next one exists (as Python's refcounting does in the
        // official code), so a block holds at most its input, one normalised copy, the padded copy and one output.
        // The normalised input is released as soon as the conv's padded copy exists (CallReleasing).
        Tensor h;
        using (var n = norm1.call(x))
        using (var a = F.silu(n, inplace: true))
            h = conv1.CallReleasing(a, pass, a, n);
        using (var n = norm2.call(h))
        {
            h.Dispose();
            using var a = F.silu(n, inplace: true);
            if (_dropout > 0 && training && !pass.Inference)
            {
                var random = pass.DropoutRandom ?? throw new InvalidOperationException("a training forward of a model with dropout needs ForwardPass.DropoutRandom.");
                using var d = GeneratorDropout.Apply(a, _dropout, random);
                h = conv2.call(d, pass);
            }
            else h = conv2.CallReleasing(a, pass, a, n);
        }
        // h is this block's own conv output, so the residual add can run in place.
        if (nin_shortcut is null) h.add_(x);
        else
        {
            using var shortcut = nin_shortcut.call(x, pass);
            h.add_(shortcut);
        }
        return h;
    }
}

/// <summary>
/// Official <c>AttnBlock3DFix</c>: single-head attention over the H·W tokens of each frame (no mixing across
/// frames, so it is exact under chunking), scale 1/√C, residual through <c>proj_out</c>.
/// </summary>
internal sealed class AttnBlock3DFix : CausalBlock
{
    private readonly ChannelNorm norm;
    private readonly CausalConv3d q, k, v, proj_out;

    public AttnBlock3DFix(long channels, NormType normType) : base(nameof(AttnBlock3DFix))
    {
        norm = new ChannelNorm(channels, normType, perFrame: false);
        q = new CausalConv3d(channels, channels, 1);
        k = new CausalConv3d(channels, channels, 1);
        v = new CausalConv3d(channels, channels, 1);
        proj_out = new CausalConv3d(channels, channels, 1);
        register_module("norm", norm);
        register_module("q", q);
        register_module("k", k);
        register_module("v", v);
        register_module("proj_out", proj_out);
    }

    public override Tensor forward(Tensor x, ForwardPass pass)
    {
        using var scope = torch.NewDisposeScope();
        var h = norm.call(x);
        long b = x.shape[0], c = x.shape[1], t = x.shape[2], hh = x.shape[3], ww = x.shape[4];
        // q, k and v as one 1×1 conv (3C outputs): one pass over h instead of three. The 1×1 kernels need no
        // causal padding or cache. Channels-last, each third is a strided (B·T, H·W, C) view without a copy.
        var w = torch.cat([q.Weight, k.Weight, v.Weight], 0);
        var bias = torch.cat([q.Bias!, k.Bias!, v.Bias!], 0);
        var qkv = ChannelPaddedConv.Conv3d(pass, h, w, bias);
        var tokens = qkv.permute(0, 2, 3, 4, 1).reshape(b * t, 1, hh * ww, 3 * c);
        var attn = ChunkedAttention(tokens.narrow(3, 0, c), tokens.narrow(3, c, c), tokens.narrow(3, 2 * c, c), pass.Options.AttentionScoreElements);
        var back = attn.reshape(b, t, hh, ww, c).permute(0, 4, 1, 2, 3);
        var y = proj_out.call(back, pass);
        return scope.MoveToOuter(y.add_(x));
    }

    /// <summary>
    /// Softmax attention in blocks of query rows, each holding at most <paramref name="scoreElements"/> scores: rows are
    /// independent, so the result is the same, and the (H·W)² score matrix (4.2 GB per latent frame at 1080p, which
    /// libtorch's CPU kernel materialised here: docs/bench.md) is never whole.
    /// </summary>
    internal static Tensor ChunkedAttention(Tensor q, Tensor k, Tensor v, long scoreElements)
    {
        long batch = q.shape[0] * q.shape[1], n = q.shape[2], keys = k.shape[2];
        long rows = Math.Max(1, scoreElements / Math.Max(1, batch * keys));
        if (rows >= n) return F.scaled_dot_product_attention(q, k, v);
        var parts = new List<Tensor>();
        for (long s = 0; s < n; s += rows)
        {
            using var block = q.narrow(2, s, Math.Min(rows, n - s));
            parts.Add(F.scaled_dot_product_attention(block, k, v));
        }
        var result = torch.cat(parts, 2);
        foreach (var p in parts) p.Dispose();
        return result;
    }
}

/// <summary>Official 2D <c>Downsample</c>: per frame, zero-pad right and bottom by 1, 3×3 conv with stride 2.</summary>
internal sealed class Downsample2D : CausalBlock
{
    private readonly FrameConv2d conv;

    public Downsample2D(long inCh, long outCh) : base("Downsample")
    {
        conv = new FrameConv2d(inCh, outCh, 3, 2, 0);
        register_module("conv", conv);
    }

    public override Tensor forward(Tensor x, ForwardPass pass)
    {
        using var p = F.pad(x, [0, 1, 0, 1]);
        return conv.call(p, pass);
    }
}

/// <summary>Official 2D <c>Upsample</c>: per frame, nearest ×2 then a 3×3 conv.</summary>
internal sealed class Upsample2D : CausalBlock
{
    private readonly FrameConv2d conv;

    public Upsample2D(long inCh, long outCh) : base("Upsample")
    {
        conv = new FrameConv2d(inCh, outCh, 3, 1, 1);
        register_module("conv", conv);
    }

    public override Tensor forward(Tensor x, ForwardPass pass)
    {
        if (pass.Options.SubPixelUpsample && pass.AllowsRewrites(x)) return SubPixelForward(x, pass);
        using var up = F.interpolate(x, scale_factor: [1, 2, 2], mode: InterpolationMode.Nearest);
        return conv.call(up, pass);
    }

    /// <summary>
    /// Nearest ×2 then a 3×3 conv equals, for each of the 4 output phases, a 2×2 conv of the input: 4/9 of the
    /// multiply-accumulates and no upsampled copy (same result up to summation order). Inference, fp32 layout only.
    /// </summary>
    private Tensor SubPixelForward(Tensor x, ForwardPass pass)
    {
        using var scope = torch.NewDisposeScope();
        var w = conv.weight;
        long b = x.shape[0], t = x.shape[2], h = x.shape[3], wd = x.shape[4], o = w.shape[0];
        // Per axis, even output 2i sees x[i−1] through tap 0 and x[i] through taps 1+2; odd output 2i+1 sees x[i]
        // through taps 0+1 and x[i+1] through tap 2. Zero padding of the upsampled image is zero padding of x.
        static Tensor Fold(Tensor k, long dim, int phase) => phase == 0
            ? torch.cat([k.narrow(dim, 0, 1), k.narrow(dim, 1, 2).sum(dim, keepdim: true)], dim)
            : torch.cat([k.narrow(dim, 0, 2).sum(dim, keepdim: true), k.narrow(dim, 2, 1)], dim);
        var xp = F.pad(x, [1, 1, 1, 1, 0, 0]);
        var rows = new Tensor[2];
        for (int a = 0; a < 2; a++)
        {
            var cols = new Tensor[2];
            for (int c = 0; c < 2; c++)
            {
                var kernel = Fold(Fold(w, 2, a), 3, c).unsqueeze(2);
                cols[c] = ChannelPaddedConv.Conv3d(pass, xp.narrow(3, a, h + 1).narrow(4, c, wd + 1), kernel, conv.bias);
            }
            rows[a] = torch.stack(cols, -1);
        }
        // (B, O, T, H, 2, W, 2): row 2i + a, column 2j + c.
        var y = torch.stack(rows, 4).reshape(b, o, t, 2 * h, 2 * wd);
        return scope.MoveToOuter(y);
    }
}

/// <summary>Official <c>Spatial2xTime2x3DDownsample</c>: zero-pad W, H by 1 at the end, causal 3×3×3 conv with stride 2.</summary>
internal sealed class Spatial2xTime2x3DDownsample : CausalBlock
{
    private readonly CausalConv3d conv;

    public Spatial2xTime2x3DDownsample(long inCh, long outCh) : base(nameof(Spatial2xTime2x3DDownsample))
    {
        conv = new CausalConv3d(inCh, outCh, 3, 2, 0);
        register_module("conv", conv);
    }

    public override Tensor forward(Tensor x, ForwardPass pass)
    {
        using var p = F.pad(x, [0, 1, 0, 1, 0, 0]);
        return conv.call(p, pass);
    }
}

/// <summary>
/// Official <c>Spatial2xTime2x3DUpsample</c>: frame 0 is only upsampled spatially; frames 1.. are ×2 in time
/// (trilinear or nearest) then ×2 in space; then a causal 3×3×3 conv.
/// Chunked, the last temporally interpolated frame depends on the next input frame, so with trilinear
/// interpolation it is held back until the next chunk (or the last chunk) supplies or ends the sequence;
/// this makes any chunk schedule exact without the official look-ahead frames.
/// </summary>
internal sealed class Spatial2xTime2x3DUpsample : CausalBlock
{
    private readonly CausalConv3d conv;
    private readonly TemporalInterpolation _mode;

    public Spatial2xTime2x3DUpsample(long inCh, long outCh, TemporalInterpolation mode) : base(nameof(Spatial2xTime2x3DUpsample))
    {
        _mode = mode;
        conv = new CausalConv3d(inCh, outCh, 3, 1, 1);
        register_module("conv", conv);
    }

    public override Tensor forward(Tensor x, ForwardPass pass)
    {
        using var scope = torch.NewDisposeScope();
        bool first = pass.Cache is null || !pass.Cache!.HasState(this);
        bool last = pass.Cache is null || pass.Cache!.IsLastChunk;
        var parts = new List<Tensor>(2);
        var rest = x;
        if (first)
        {
            parts.Add(x.narrow(2, 0, 1));
            rest = x.narrow(2, 1, x.shape[2] - 1);
        }
        Tensor? held = first ? null : pass.Cache!.Get(this);
        long n = rest.shape[2];
        if (n > 0)
        {
            if (_mode == TemporalInterpolation.Nearest)
            {
                parts.Add(F.interpolate(rest, scale_factor: [2, 1, 1], mode: InterpolationMode.Nearest));
            }
            else
            {
                // Window = [held frame, new frames]; interpolation of interior frames equals the whole-video result.
                var window = held is null ? rest : torch.cat([held, rest], 2);
                var up = F.interpolate(window, scale_factor: [2, 1, 1], mode: InterpolationMode.Trilinear, align_corners: false);
                long start = held is null ? 0 : 1;
                long end = up.shape[2] - (last ? 0 : 1);
                parts.Add(up.narrow(2, start, end - start));
            }
            held = rest.narrow(2, n - 1, 1);
        }
        pass.Cache?.Set(this, _mode == TemporalInterpolation.Trilinear ? held : null);
        var frames = parts.Count == 1 ? parts[0] : torch.cat(parts, 2);
        if (parts.Count > 1) foreach (var p in parts) p.Dispose();
        var spatial = F.interpolate(frames, scale_factor: [1, 2, 2], mode: InterpolationMode.Trilinear, align_corners: false);
        frames.Dispose();
        return scope.MoveToOuter(conv.call(spatial, pass));
    }
}

/// <summary>Runs child blocks in order (an <c>nn.Sequential</c> with keys "0", "1", …).</summary>
internal sealed class CausalSequential : CausalBlock
{
    private readonly CausalBlock[] _blocks;

    public CausalSequential(IEnumerable<CausalBlock> blocks) : base("Sequential")
    {
        _blocks = blocks.ToArray();
        for (int i = 0; i < _blocks.Length; i++) register_module(i.ToString(System.Globalization.CultureInfo.InvariantCulture), _blocks[i]);
    }

    public override Tensor forward(Tensor x, ForwardPass pass)
    {
        // Each block's output is released once the next block has consumed it.
        Tensor h = x;
        bool owned = false;
        foreach (var b in _blocks)
        {
            var next = b.call(h, pass);
            if (owned) h.Dispose();
            h = next;
            owned = true;
        }
        return owned ? h : x.alias();
    }
}
