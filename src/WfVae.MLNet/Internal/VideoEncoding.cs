using TorchSharp;
using WfVae.Pipeline;
using static TorchSharp.torch;

namespace WfVae.MLNet;

/// <summary>
/// The per-row computations of both stages: read or unpack a video, run the model, return flat float arrays in the
/// (z, t, h, w) / (3, T, H, W) row-major order of the columns. Used by the in-memory transformers and by saved pipelines.
/// </summary>
internal static class VideoEncoding
{
    /// <summary>Encodes a video file chunk by chunk through the Causal Cache (the streaming pipeline); returns the outputs in column order.</summary>
    public static float[][] EncodePath(WfVaeModel model, EncodingPlan plan, string path)
    {
        if (string.IsNullOrWhiteSpace(path))
            throw new ArgumentException("the video path is empty.");
        var source = new VideoSource
        {
            Path = path,
            Width = plan.Width,
            Height = plan.Height,
            FrameStep = plan.FrameStep,
            Start = plan.StartTicks is { } start ? TimeSpan.FromTicks(start) : null,
            MaxFrames = plan.MaxFrames,
            Policy = plan.Policy,
            ExactFrameCount = plan.MaxFrames is not null,
        };
        using var encoded = new VideoPipeline(model, new StreamingOptions { EncodeChunking = plan.ChunkFrames }).Encode(source);
        return Outputs(plan, encoded.Posterior.Mean, encoded.Posterior.LogVar);
    }

    /// <summary>Encodes one planar (3, T, H, W) video held in a vector cell.</summary>
    public static float[][] EncodeVector(WfVaeModel model, EncodingPlan plan, ReadOnlySpan<float> video)
    {
        int h = plan.Height!.Value, w = plan.Width!.Value;
        long frameFloats = 3L * h * w;
        if (plan.Frames is { } tf && video.Length != tf * frameFloats)
            throw new ArgumentException($"the video vector has {video.Length} values, expected 3x{tf}x{h}x{w} = {tf * frameFloats}.");
        if (video.Length == 0 || video.Length % frameFloats != 0)
            throw new ArgumentException($"the video vector has {video.Length} values, which is not a whole number of 3x{h}x{w} frames ({frameFloats} values each).");
        long t = video.Length / frameFloats;
        if (plan.Policy == ShapePolicy.Strict)
            model.ShapeRules.Validate(t, h, w);

        using var scope = NewDisposeScope();
        var x = torch.tensor(video.ToArray(), [1, 3, t, h, w]);
        if (plan.Policy == ShapePolicy.PadAndTrim)
            x = model.PadToValid(x);
        using var d = model.Encode(x, plan.ChunkFrames);
        return Outputs(plan, d.Mean, d.LogVar);
    }

    /// <summary>Mean, then logvar / sample / pooled as enabled, each flattened row-major.</summary>
    private static float[][] Outputs(EncodingPlan plan, Tensor mean, Tensor logvar)
    {
        using var scope = NewDisposeScope();
        if (plan.LatentShape is { } shape && !mean.shape.Skip(1).SequenceEqual(shape.Select(v => (long)v)))
            throw new InvalidOperationException($"the latent has shape [{string.Join(",", mean.shape.Skip(1))}] but the column was declared [{string.Join(",", shape)}].");
        var result = new List<float[]> { Flat(mean) };
        if (plan.LogVar) result.Add(Flat(logvar));
        if (plan.SampleSeed is long seed)
        {
            // Same draw as LatentDistribution.Sample(seed): mean + exp(logvar / 2) * randn(generator(seed)).
            using var gen = new torch.Generator((ulong)seed, mean.device);
            var eps = randn(mean.shape, dtype: mean.dtype, device: mean.device, generator: gen);
            result.Add(Flat(mean.add(logvar.mul(0.5).exp_().mul_(eps))));
        }
        if (plan.Pooled)
        {
            long[] dims = [2, 3, 4];
            var m = mean.mean(dims);
            var sd = mean.std(dims, unbiased: false);
            result.Add(Flat(torch.cat([m, sd], 1)));
        }
        return [.. result];
    }

    /// <summary>Decodes one latent (z, t, h, w) held in a vector cell to a planar (3, T, H, W) video.</summary>
    public static float[][] Decode(WfVaeModel model, DecodingPlan plan, ReadOnlySpan<float> latent)
    {
        long plane = (long)plan.LatentDim * plan.LatentHeight * plan.LatentWidth;
        if (plan.LatentFrames is { } lt && latent.Length != lt * plane)
            throw new ArgumentException($"the latent vector has {latent.Length} values, expected {plan.LatentDim}x{lt}x{plan.LatentHeight}x{plan.LatentWidth} = {lt * plane}.");
        if (latent.Length == 0 || latent.Length % plane != 0)
            throw new ArgumentException($"the latent vector has {latent.Length} values, which is not a whole number of {plan.LatentDim}x{plan.LatentHeight}x{plan.LatentWidth} latent frames ({plane} values each).");
        long t = latent.Length / plane;
        using var scope = NewDisposeScope();
        var z = torch.tensor(latent.ToArray(), [1, plan.LatentDim, t, plan.LatentHeight, plan.LatentWidth]);
        var video = model.Decode(z, plan.ChunkLatentFrames);
        var (vt, vh, vw) = plan.VideoShape((int)t);
        video = WfVaeModel.Trim(video, vt, vh, vw);
        if (plan.Clamp) video = video.clamp(-1.0, 1.0);
        return [Flat(video)];
    }

    private static float[] Flat(Tensor t)
    {
        using var c = t.detach().to(ScalarType.Float32, CPU).contiguous();
        return c.data<float>().ToArray();
    }
}
