using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace WfVae.Modules;

/// <summary>Official WF-VAE <c>Encoder</c> (modeling_wfvae.py): field names are the state-dict names.</summary>
internal sealed class WfVaeEncoder : nn.Module
{
    private readonly CausalSequential down1, down2, mid;
    private readonly FrameConv2d connect_l1, connect_l2;
    private readonly ChannelNorm norm_out;
    private readonly CausalConv3d conv_out;
    private readonly HaarWavelet3D wavelet_transform_in;
    private readonly HaarWavelet2D wavelet_transform_l1;
    private readonly HaarWavelet3D wavelet_transform_l2;

    public WfVaeEncoder(WfVaeConfig c) : base("Encoder")
    {
        long b = c.BaseChannels, ee = c.EncoderEnergyFlowHiddenSize;
        var n = c.NormType;
        var d = c.Dropout;
        down1 = new CausalSequential(
            new CausalBlock[] { new FrameConv2d(24, b, 3, 1, 1) }
            .Concat(Enumerable.Range(0, c.EncoderNumResBlocks).Select(_ => new ResnetBlock(b, b, n, d, is3d: false)))
            .Append(new Downsample2D(b, b)));
        down2 = new CausalSequential(
            new CausalBlock[] { new FrameConv2d(b + ee, 2 * b, 3, 1, 1) }
            .Concat(Enumerable.Range(0, c.EncoderNumResBlocks).Select(_ => new ResnetBlock(2 * b, 2 * b, n, d, is3d: true)))
            .Append(new Spatial2xTime2x3DDownsample(2 * b, 2 * b)));
        connect_l1 = new FrameConv2d(12, ee, 3, 1, 1);
        connect_l2 = new FrameConv2d(24, ee, 3, 1, 1);
        var midBlocks = new List<CausalBlock> { new ResnetBlock(2 * b + ee, 4 * b, n, d, true), new ResnetBlock(4 * b, 4 * b, n, d, true) };
        if (c.UseAttention) midBlocks.Insert(1, new AttnBlock3DFix(4 * b, n));
        mid = new CausalSequential(midBlocks);
        norm_out = new ChannelNorm(4 * b, n, perFrame: false);
        conv_out = new CausalConv3d(4 * b, 2L * c.LatentDim, 3, 1, 1);
        wavelet_transform_in = new HaarWavelet3D();
        wavelet_transform_l1 = new HaarWavelet2D();
        wavelet_transform_l2 = new HaarWavelet3D();
        register_module(nameof(down1), down1);
        register_module(nameof(down2), down2);
        register_module(nameof(connect_l1), connect_l1);
        register_module(nameof(connect_l2), connect_l2);
        register_module(nameof(mid), mid);
        register_module(nameof(norm_out), norm_out);
        register_module(nameof(conv_out), conv_out);
        register_module(nameof(wavelet_transform_in), wavelet_transform_in);
        register_module(nameof(wavelet_transform_l1), wavelet_transform_l1);
        register_module(nameof(wavelet_transform_l2), wavelet_transform_l2);
    }

    /// <summary>Level-1 3D Haar of the input video (exposed for tests and the WL loss).</summary>
    public Tensor WaveletIn(Tensor x, ForwardPass pass) => wavelet_transform_in.call(x, pass.WithoutCache());

    /// <summary>
    /// Encodes one chunk to moments (B, 2z, t, h, w). <paramref name="l1Coeffs"/>/<paramref name="l2Coeffs"/> are the
    /// energy-flow wavelet coefficients W2/W3 that the wavelet loss compares.
    /// </summary>
    public Tensor Forward(Tensor x, ForwardPass pass, out Tensor l1Coeffs, out Tensor l2Coeffs)
    {
        using var scope = torch.NewDisposeScope();
        Tensor coeffs, l1c, l1, l2c, l2, h;
        coeffs = wavelet_transform_in.call(x, pass);
        l1c = wavelet_transform_l1.call(coeffs.narrow(1, 0, 3), pass);
        l1 = connect_l1.call(l1c, pass);
        l2c = wavelet_transform_l2.call(l1c.narrow(1, 0, 3), pass);
        l2 = connect_l2.call(l2c, pass);
        h = down1.call(coeffs, pass);
        h = torch.cat([h, l1], 1);
        h = down2.call(h, pass);
        h = torch.cat([h, l2], 1);
        h = mid.call(h, pass);
        h = norm_out.call(h);
        h = F.silu(h, inplace: true);
        h = conv_out.call(h, pass);
        l1Coeffs = scope.MoveToOuter(l1c.contiguous());
        l2Coeffs = scope.MoveToOuter(l2c.contiguous());
        return scope.MoveToOuter(h.contiguous());
    }
}

/// <summary>Official WF-VAE <c>Decoder</c> (modeling_wfvae.py): field names are the state-dict names.</summary>
internal sealed class WfVaeDecoder : nn.Module
{
    private readonly CausalConv3d conv_in;
    private readonly CausalSequential mid, up2, up1, layer, connect_l1, connect_l2;
    private readonly ChannelNorm norm_out;
    private readonly FrameConv2d conv_out;
    private readonly InverseHaarWavelet3D inverse_wavelet_transform_out;
    private readonly InverseHaarWavelet2D inverse_wavelet_transform_l1;
    private readonly InverseHaarWavelet3D inverse_wavelet_transform_l2;
    private readonly long _ed;
    // Keys for the frames of the (un-lagged) level-2 energy-flow stream waiting for the lagged backbone stream.
    private readonly object _l2Pending = new(), _l1Pending = new();

    public WfVaeDecoder(WfVaeConfig c) : base("Decoder")
    {
        long b = c.BaseChannels, ed = c.DecoderEnergyFlowHiddenSize;
        _ed = ed;
        var n = c.NormType;
        var d = c.Dropout;
        int rd = c.DecoderNumResBlocks;
        conv_in = new CausalConv3d(c.LatentDim, 4 * b, 3, 1, 1);
        var midBlocks = new List<CausalBlock> { new ResnetBlock(4 * b, 4 * b, n, d, true), new ResnetBlock(4 * b, 4 * b + ed, n, d, true) };
        if (c.UseAttention) midBlocks.Insert(1, new AttnBlock3DFix(4 * b, n));
        mid = new CausalSequential(midBlocks);
        up2 = new CausalSequential(
            Enumerable.Range(0, rd).Select(_ => (CausalBlock)new ResnetBlock(4 * b, 4 * b, n, d, true))
            .Append(new Spatial2xTime2x3DUpsample(4 * b, 4 * b, c.TInterpolation))
            .Append(new ResnetBlock(4 * b, 4 * b + ed, n, d, true)));
        up1 = new CausalSequential(
            Enumerable.Range(0, rd).Select(i => (CausalBlock)new ResnetBlock(i == 0 ? 4 * b : 2 * b, 2 * b, n, d, true))
            .Append(new Upsample2D(2 * b, 2 * b))
            .Append(new ResnetBlock(2 * b, 2 * b, n, d, true)));
        layer = new CausalSequential([new ResnetBlock(2 * b, b, n, d, true), new ResnetBlock(b, b, n, d, true)]);
        connect_l1 = new CausalSequential(
            Enumerable.Range(0, c.ConnectResLayerNum).Select(_ => (CausalBlock)new ResnetBlock(ed, ed, n, d, true))
            .Append(new FrameConv2d(ed, 12, 3, 1, 1)));
        connect_l2 = new CausalSequential(
            Enumerable.Range(0, c.ConnectResLayerNum).Select(_ => (CausalBlock)new ResnetBlock(ed, ed, n, d, true))
            .Append(new FrameConv2d(ed, 24, 3, 1, 1)));
        norm_out = new ChannelNorm(b, n, perFrame: false);
        conv_out = new FrameConv2d(b, 24, 3, 1, 1);
        inverse_wavelet_transform_out = new InverseHaarWavelet3D();
        inverse_wavelet_transform_l1 = new InverseHaarWavelet2D();
        inverse_wavelet_transform_l2 = new InverseHaarWavelet3D();
        register_module(nameof(conv_in), conv_in);
        register_module(nameof(mid), mid);
        register_module(nameof(up2), up2);
        register_module(nameof(up1), up1);
        register_module(nameof(layer), layer);
        register_module(nameof(connect_l1), connect_l1);
        register_module(nameof(connect_l2), connect_l2);
        register_module(nameof(norm_out), norm_out);
        register_module(nameof(conv_out), conv_out);
        register_module(nameof(inverse_wavelet_transform_out), inverse_wavelet_transform_out);
        register_module(nameof(inverse_wavelet_transform_l1), inverse_wavelet_transform_l1);
        register_module(nameof(inverse_wavelet_transform_l2), inverse_wavelet_transform_l2);
    }

    /// <summary>The last layer's weight (the GAN adaptive weight differentiates against it).</summary>
    public Tensor LastLayerWeight => conv_out.weight;

    /// <summary>
    /// Decodes one latent chunk. Returns the video frames this chunk completes; <paramref name="l1Coeffs"/> is Ŵ2
    /// (with the l2 inverse already added to its first 3 channels, as the official in-place add leaves it) and
    /// <paramref name="l2Coeffs"/> is Ŵ3.
    /// </summary>
    public Tensor Forward(Tensor z, ForwardPass pass, out Tensor l1Coeffs, out Tensor l2Coeffs)
    {
        using var scope = torch.NewDisposeScope();
        // Large activations are released as soon as they are consumed (Next disposes the previous tensor).
        Tensor h, l2c, l1c;
        h = conv_in.call(z, pass);
        h = Next(h, mid.call(h, pass));
        long wide = h.shape[1] - _ed;
        using (var v = h.narrow(1, wide, _ed)) l2c = connect_l2.call(v, pass);
        var l2 = inverse_wavelet_transform_l2.call(l2c, pass);
        using (var v = h.narrow(1, 0, wide)) h = Next(h, up2.call(v, pass));
        wide = h.shape[1] - _ed;
        using (var v = h.narrow(1, wide, _ed)) l1c = connect_l1.call(v, pass);
        AddAligned(l1c.narrow(1, 0, 3), l2, pass, _l2Pending);
        var l1 = inverse_wavelet_transform_l1.call(l1c, pass);
        using (var v = h.narrow(1, 0, wide)) h = Next(h, up1.call(v, pass));
        h = Next(h, layer.call(h, pass));
        h = Next(h, norm_out.call(h));
        h = Next(h, F.silu(h, inplace: true));
        h = Next(h, conv_out.call(h, pass));
        AddAligned(h.narrow(1, 0, 3), l1, pass, _l1Pending);
        var dec = inverse_wavelet_transform_out.call(h, pass);
        l1Coeffs = scope.MoveToOuter(l1c.contiguous());
        l2Coeffs = scope.MoveToOuter(l2c.contiguous());
        return scope.MoveToOuter(dec.contiguous());
    }

    /// <summary>Disposes <paramref name="previous"/> (its storage lives on while views of it do) and returns <paramref name="next"/>.</summary>
    private static Tensor Next(Tensor previous, Tensor next)
    {
        previous.Dispose();
        return next;
    }

    /// <summary>
    /// target += addend frame by frame. Chunked with trilinear upsampling the backbone (target) lags the energy-flow
    /// stream (addend) by held-back frames, so extra addend frames wait in the cache for the next chunk.
    /// </summary>
    private static void AddAligned(Tensor target, Tensor addend, ForwardPass pass, object key)
    {
        using var scope = torch.NewDisposeScope();
        long need = target.shape[2];
        var pending = pass.Cache?.Get(key);
        var stream = pending is null ? addend : torch.cat([pending, addend], 2);
        long have = stream.shape[2];
        if (have < need)
            throw new InvalidOperationException($"energy-flow stream has {have} frames for {need} backbone frames; the decoder's chunk bookkeeping is inconsistent.");
        target.add_(stream.narrow(2, 0, need));
        if (pass.Cache is not null) pass.Cache!.Set(key, have > need ? stream.narrow(2, need, have - need) : null);
    }
}

/// <summary>The official <c>WFVAEModel</c> module tree: children <c>encoder</c> and <c>decoder</c>.</summary>
internal sealed class WfVaeNetwork : nn.Module
{
    public readonly WfVaeEncoder? encoder;
    public readonly WfVaeDecoder? decoder;

    public WfVaeNetwork(WfVaeConfig config, WfVaeComponents components = WfVaeComponents.All) : base("WFVAEModel")
    {
        if (components.HasFlag(WfVaeComponents.Encoder))
        {
            encoder = new WfVaeEncoder(config);
            register_module(nameof(encoder), encoder);
        }
        if (components.HasFlag(WfVaeComponents.Decoder))
        {
            decoder = new WfVaeDecoder(config);
            register_module(nameof(decoder), decoder);
        }
    }
}
