using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace WfVae.Modules;

/// <summary>Haar filter banks exactly as the official wavelet.py builds them.</summary>
internal static class HaarFilters
{
    /// <summary>The official 3D constant: 0.3536, not 1/√8 (copied on purpose; it makes the round trip gain 1.00026).</summary>
    public const float Haar3DScale = 0.3536f;

    /// <summary>Band names in official order: h, g (W-high), hh (H-high), gh, then the same four high-passed in T.</summary>
    public static readonly string[] Bands3D = ["h", "g", "hh", "gh", "h_v", "g_v", "hh_v", "gh_v"];

    /// <summary>Band names of the 2D transform: aa (LL), ad (H-high), da (W-high), dd.</summary>
    public static readonly string[] Bands2D = ["aa", "ad", "da", "dd"];

    /// <summary>Filter of band <paramref name="band"/>, shape [1,1,2,2,2]; high-pass = + at index 0, − at index 1.</summary>
    public static Tensor Filter3D(int band)
    {
        bool wHigh = (band & 1) != 0, hHigh = (band & 2) != 0, tHigh = (band & 4) != 0;
        var v = new float[8];
        for (int t = 0; t < 2; t++)
            for (int h = 0; h < 2; h++)
                for (int w = 0; w < 2; w++)
                {
                    int sign = (tHigh && t == 1 ? -1 : 1) * (hHigh && h == 1 ? -1 : 1) * (wHigh && w == 1 ? -1 : 1);
                    v[t * 4 + h * 2 + w] = sign * Haar3DScale;
                }
        return torch.tensor(v, [1, 1, 2, 2, 2]);
    }

    /// <summary>2D filter of band <paramref name="band"/> (aa, ad, da, dd), shape [1,1,2,2], entries ±1/2.</summary>
    public static Tensor Filter2D(int band)
    {
        bool hHigh = band == 1 || band == 3, wHigh = band == 2 || band == 3;
        var v = new float[4];
        for (int h = 0; h < 2; h++)
            for (int w = 0; w < 2; w++)
                v[h * 2 + w] = 0.5f * (hHigh && h == 1 ? -1 : 1) * (wHigh && w == 1 ? -1 : 1);
        return torch.tensor(v, [1, 1, 2, 2]);
    }

    /// <summary>(B, C·K, …) band-major → (B·C, K, …) so each colour is one batch item with K band channels.</summary>
    public static Tensor BandsToBatch(Tensor x, long bands)
    {
        long b = x.shape[0], c = x.shape[1] / bands;
        var rest = x.shape.Skip(2).ToArray();
        using var v = x.reshape(new long[] { b, bands, c }.Concat(rest).ToArray());
        using var p = v.transpose(1, 2);
        return p.reshape(new long[] { b * c, bands }.Concat(rest).ToArray());
    }

    /// <summary>(B·C, K, …) → (B, K·C, …) band-major (channel = band·C + c).</summary>
    public static Tensor BatchToBands(Tensor y, long batch)
    {
        long bands = y.shape[1], c = y.shape[0] / batch;
        var rest = y.shape.Skip(2).ToArray();
        using var v = y.reshape(new long[] { batch, c, bands }.Concat(rest).ToArray());
        using var p = v.transpose(1, 2);
        return p.reshape(new long[] { batch, bands * c }.Concat(rest).ToArray());
    }
}

/// <summary>One frozen Haar tap of the forward 3D transform: keys <c>{band}_conv.conv.weight</c> [1,1,2,2,2].</summary>
internal sealed class HaarTap : nn.Module
{
    public readonly ConvWeights conv;

    public HaarTap(Tensor filter) : base("CausalConv3d")
    {
        conv = new ConvWeights(1, 1, [2, 2, 2], hasBias: false, trainable: false);
        using (torch.no_grad()) conv.weight.copy_(filter);
        register_module("conv", conv);
    }
}

/// <summary>
/// Official <c>HaarWaveletTransform3D</c>: eight 2×2×2 stride-2 filters per colour with causal temporal padding
/// (frame 0 paired with itself), vectorised as one conv3d over (B·C, 1, T, H, W). Output is band-major, 8C channels.
/// </summary>
internal sealed class HaarWavelet3D : CausalBlock
{
    private readonly HaarTap[] _taps;

    public HaarWavelet3D() : base("HaarWaveletTransform3D")
    {
        _taps = new HaarTap[8];
        for (int i = 0; i < 8; i++)
        {
            using var f = HaarFilters.Filter3D(i);
            _taps[i] = new HaarTap(f);
            register_module(HaarFilters.Bands3D[i] + "_conv", _taps[i]);
        }
    }

    public override Tensor forward(Tensor x, ForwardPass pass)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0], c = x.shape[1];
        var w = torch.cat(_taps.Select(t => (Tensor)t.conv.weight).ToArray(), 0);
        var single = x.reshape(b * c, 1, x.shape[2], x.shape[3], x.shape[4]);
        var padded = CausalTime.Pad(this, single, pass, 2, 2);
        var y = F.conv3d(padded, w, null, [2, 2, 2]);
        return scope.MoveToOuter(HaarFilters.BatchToBands(y, b));
    }
}

/// <summary>
/// Official <c>InverseHaarWaveletTransform3D</c>: transposed stride-2 conv of each band, summed; the first output
/// frame (the duplicate of frame 0) is dropped on the first chunk only. Buffers <c>h, g, …</c> [1,1,2,2,2].
/// </summary>
internal sealed class InverseHaarWavelet3D : CausalBlock
{
    private readonly Tensor[] _filters = new Tensor[8];

    public InverseHaarWavelet3D() : base("InverseHaarWaveletTransform3D")
    {
        for (int i = 0; i < 8; i++)
        {
            _filters[i] = HaarFilters.Filter3D(i);
            register_buffer(HaarFilters.Bands3D[i], _filters[i], persistent: true);
        }
    }

    public override Tensor forward(Tensor x, ForwardPass pass)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0];
        var w = torch.cat(named_buffers(recurse: false).Select(nb => nb.Item2).ToArray(), 0);
        var per = HaarFilters.BandsToBatch(x, 8);
        var y = BlockUnfold.Apply(per, w);
        bool first = pass.Cache is null || !pass.Cache!.HasState(this);
        if (first) y = y.narrow(2, 1, y.shape[2] - 1);
        pass.Cache?.Set(this, null);
        long c = y.shape[0] / b;
        return scope.MoveToOuter(y.reshape(b, c, y.shape[2], y.shape[3], y.shape[4]));
    }
}

/// <summary>Official <c>HaarWaveletTransform2D</c> per frame: buffers aa, ad, da, dd [1,1,2,2]; output band-major 4C.</summary>
internal sealed class HaarWavelet2D : CausalBlock
{
    public HaarWavelet2D() : base("HaarWaveletTransform2D")
    {
        for (int i = 0; i < 4; i++) register_buffer(HaarFilters.Bands2D[i], HaarFilters.Filter2D(i), persistent: true);
    }

    public override Tensor forward(Tensor x, ForwardPass pass)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0], c = x.shape[1];
        var w = torch.cat(named_buffers(recurse: false).Select(nb => nb.Item2).ToArray(), 0).unsqueeze(2);
        var single = x.reshape(b * c, 1, x.shape[2], x.shape[3], x.shape[4]);
        var y = F.conv3d(single, w, null, [1, 2, 2]);
        return scope.MoveToOuter(HaarFilters.BatchToBands(y, b));
    }
}

/// <summary>Official <c>InverseHaarWaveletTransform2D</c> per frame: transposed stride-2 conv of each band, summed.</summary>
internal sealed class InverseHaarWavelet2D : CausalBlock
{
    public InverseHaarWavelet2D() : base("InverseHaarWaveletTransform2D")
    {
        for (int i = 0; i < 4; i++) register_buffer(HaarFilters.Bands2D[i], HaarFilters.Filter2D(i), persistent: true);
    }

    public override Tensor forward(Tensor x, ForwardPass pass)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0];
        var w = torch.cat(named_buffers(recurse: false).Select(nb => nb.Item2).ToArray(), 0).unsqueeze(2);
        var per = HaarFilters.BandsToBatch(x, 4);
        var y = BlockUnfold.Apply(per, w);
        long c = y.shape[0] / b;
        return scope.MoveToOuter(y.reshape(b, c, y.shape[2], y.shape[3], y.shape[4]));
    }
}
