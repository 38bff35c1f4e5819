using TorchSharp;
using WfVae.Video;
using static TorchSharp.torch;

namespace WfVae.MLNet;

/// <summary>
/// The per-row computations of both stages: read or unpack a video, run the model, return flat float arrays in the
/// (z, t, h, w) / (3, T, H, W) row-major order of the columns. Used by the in-memory transformers and by saved pipelines.
/// </summary>
internal static class VideoEncoding
{
    /// <summary>Encodes a video file chunk by chunk through the Causal Cache; returns the outputs in column order.</summary>
    public static float[][] EncodePath(WfVaeModel model, EncodingPlan plan, string path)
    {
        if (string.IsNullOrWhiteSpace(path))
            throw new ArgumentException("the video path is empty.");
        var read = new VideoReadOptions
        {
            Width = plan.Width,
            Height = plan.Height,
            FrameStep = plan.FrameStep,
            Start = plan.StartTicks is { } start ? TimeSpan.FromTicks(start) : null,
            MaxFrames = plan.MaxFrames,
        };
        int h, w;
        if (plan.Width is { } tw && plan.Height is { } th) (h, w) = (th, tw);
        else (h, w) = VideoReader.GetOutputSize(VideoReader.Probe(path), read);
        bool pad = plan.Policy == ShapePolicy.PadAndTrim;
        if (!pad && (h % 8 != 0 || w % 8 != 0 || h < 8 || w < 8))
            throw new ArgumentException($"its frames are {w}x{h}, but width and height must be multiples of 8 (nearest valid: width {WfVaeEncoderOptions.Nearest8(w)}, height {WfVaeEncoderOptions.Nearest8(h)}). Set Width and Height, or use ShapePolicy.PadAndTrim.");
        long ph = VideoShapeRules.PaddedSide(h) - h, pw = VideoShapeRules.PaddedSide(w) - w;
        long frameFloats = 3L * h * w;

        using var scope = NewDisposeScope();
        using var cache = model.CreateEncoderCache();
        var means = new List<Tensor>();
        var logvars = new List<Tensor>();
        Tensor? lastFrame = null;

        // Chunk tensors die with their own scope; only the (small) latents move to the row's scope.
        void EncodePiece(Tensor x)
        {
            var d = model.EncodeChunk(x, cache);
            means.Add(d.Mean.MoveToOtherDisposeScope(scope));
            logvars.Add(d.LogVar.MoveToOtherDisposeScope(scope));
        }

        Tensor ToTensor(float[] chunk)
        {
            long t = chunk.Length / frameFloats;
            var x = torch.tensor(chunk, [1, 3, t, h, w]);
            if (ph > 0 || pw > 0)
                x = nn.functional.pad(x, [0, pw, 0, ph, 0, 0], PaddingModes.Replicate);
            return x;
        }

        // One chunk of look-ahead: the last chunk may need padding before it can be encoded.
        float[]? pending = null;
        long framesRead = 0;
        foreach (float[] chunk in VideoReader.ReadChunks(path, plan.ChunkFrames, read))
        {
            if (chunk.Length == 0 || chunk.Length % frameFloats != 0)
                throw new InvalidDataException($"the reader returned {chunk.Length} values, not a multiple of 3x{h}x{w}.");
            if (pending is not null)
            {
                using var s = NewDisposeScope();
                EncodePiece(ToTensor(pending));
            }
            pending = chunk;
            framesRead += chunk.Length / frameFloats;
        }
        if (pending is null)
            throw new InvalidDataException("no frames were decoded.");

        long target = TargetFrames(plan, framesRead);
        long padFrames = target - framesRead;
        using (var s = NewDisposeScope())
        {
            var last = ToTensor(pending);
            lastFrame = last.narrow(2, last.shape[2] - 1, 1).contiguous().MoveToOtherDisposeScope(scope);
            if (cache.ChunksProcessed == 0)
            {
                EncodePiece(last); // frame 0 alone; the padding follows in whole chunks
            }
            else
            {
                long fill = (4 - last.shape[2] % 4) % 4;
                if (fill > 0) last = torch.cat([last, lastFrame.expand(-1, -1, fill, -1, -1)], 2);
                padFrames -= fill;
                EncodePiece(last);
            }
        }
        while (padFrames > 0)
        {
            using var s = NewDisposeScope();
            long n = Math.Min(padFrames, plan.ChunkFrames);
            EncodePiece(lastFrame.expand(-1, -1, n, -1, -1).contiguous());
            padFrames -= n;
        }

        var mean = torch.cat(means, 2);
        var logvar = torch.cat(logvars, 2);
        return Outputs(plan, mean, logvar);
    }

    /// <summary>The frame count a video with <paramref name="framesRead"/> frames is encoded with, or an error naming valid counts.</summary>
    private static long TargetFrames(EncodingPlan plan, long framesRead)
    {
        bool pad = plan.Policy == ShapePolicy.PadAndTrim;
        if (plan.MaxFrames is { } max)
        {
            if (pad) return VideoShapeRules.PaddedFrameCount(max);
            if (framesRead < max)
                throw new ArgumentException($"it has only {framesRead} frame(s) after Start/FrameStep, but MaxFrames = {max} and ShapePolicy.Strict needs exactly {max}. Lower MaxFrames or use ShapePolicy.PadAndTrim to pad with the last frame.");
            return max;
        }
        if (pad) return VideoShapeRules.PaddedFrameCount(framesRead);
        if (!VideoShapeRules.IsValidFrameCount(framesRead))
            throw new ArgumentException($"it has {framesRead} frames, which is not 1 + 4k (nearest valid: {WfVaeEncoderOptions.NearestFrames((int)framesRead)}). Set MaxFrames to a valid count or use ShapePolicy.PadAndTrim.");
        return framesRead;
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
            VideoShapeRules.Validate(t, h, w);

        using var scope = NewDisposeScope();
        var x = torch.tensor(video.ToArray(), [1, 3, t, h, w]);
        if (plan.Policy == ShapePolicy.PadAndTrim)
            x = WfVaeModel.PadToValid(x);
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
