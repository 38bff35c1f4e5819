using TorchSharp;
using static TorchSharp.torch;

namespace WfVae.Profiling;

/// <summary>Multiply-accumulates of one encode and one decode of a video shape.</summary>
/// <param name="EncodeMacs">All encoder MACs (convolutions + attention).</param>
/// <param name="DecodeMacs">All decoder MACs (convolutions + attention).</param>
/// <param name="EncodeAttentionMacs">The encoder's attention matmuls alone.</param>
/// <param name="DecodeAttentionMacs">The decoder's attention matmuls alone.</param>
public sealed record MacCount(double EncodeMacs, double DecodeMacs, double EncodeAttentionMacs, double DecodeAttentionMacs);

/// <summary>
/// Counts the multiply-accumulates of every convolution (output elements × input channels per group × kernel
/// volume; transposed convs by their input) and attention matmul (QKᵀ and AV) of the module tree for a given
/// input shape, from the layer shapes the forward actually runs. The forward runs at a small frame size with the
/// real frame count; convolution work scales exactly with H·W and attention work with (H·W)², so the counts are
/// scaled up exactly. A <see cref="ModelProbe"/> is attached to the model meanwhile: do not run it on other threads.
/// </summary>
public static class MacCounter
{
    /// <summary>Counts the work of encoding a (1, 3, <paramref name="frames"/>, H, W) video and decoding its latent.</summary>
    public static MacCount Count(WfVaeModel model, long frames, long height, long width)
    {
        ArgumentNullException.ThrowIfNull(model);
        var rules = model.ShapeRules;
        rules.Validate(frames, height, width);
        // The smallest valid frame that still has 2×2 latent pixels.
        long small = 2 * rules.SpatialFactor;
        long hs = Math.Min(height, small), ws = Math.Min(width, small);
        double scale = (double)(height * width) / (hs * ws);
        using var mode = inference_mode();
        using var scope = NewDisposeScope();
        double enc = 0, encAttn = 0, dec = 0, decAttn = 0;
        using var probe = ModelProbe.Attach(model, countMacs: true);
        var pass = new WfVae.Modules.ForwardPass(model.Inference, null, inference: true);
        // A model loaded with one half only counts that half (the other counts zero).
        if (model.Network.encoder is { } encoder)
        {
            var x = zeros([1, 3, frames, hs, ws], model.EncodeDType, model.Device);
            encoder.Forward(x, pass, out _, out _);
            (enc, encAttn) = (probe.ConvMacs, probe.AttentionMacs);
        }
        if (model.Network.decoder is { } decoder)
        {
            var z = zeros(model.LatentShape(1, frames, hs, ws), model.DecodeDType, model.Device);
            decoder.Forward(z, pass, out _, out _);
            // The counts are whole numbers far below 2^53, so the difference is exact.
            (dec, decAttn) = (probe.ConvMacs - enc, probe.AttentionMacs - encAttn);
        }
        return new MacCount(enc * scale + encAttn * scale * scale, dec * scale + decAttn * scale * scale, encAttn * scale * scale, decAttn * scale * scale);
    }
}
