using static TorchSharp.torch;

namespace WfVae;

/// <summary>
/// The frames ↔ tensor bridge: packed rgb24 frames (H·W·3 bytes each) to (1, 3, T, H, W) video in [-1, 1]
/// (<c>byte / 127.5 − 1</c>) and back (clamped, rounded). Every caller converts through here: the streaming
/// pipeline, training clips, the ML.NET stages and the notebooks.
/// </summary>
public static class FrameTensors
{
    /// <summary>Stacks rgb24 frames into a (1, 3, T, H, W) float32 video in [-1, 1].</summary>
    public static Tensor FromRgb24(IReadOnlyList<byte[]> frames, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(frames);
        if (frames.Count == 0) throw new ArgumentException("no frames to convert.", nameof(frames));
        int frameBytes = checked(height * width * 3);
        var packed = new byte[checked((long)frameBytes * frames.Count)];
        for (int i = 0; i < frames.Count; i++)
        {
            if (frames[i].Length != frameBytes)
                throw new ArgumentException($"frame {i} has {frames[i].Length} bytes; a {width}x{height} rgb24 frame has {frameBytes}.", nameof(frames));
            Buffer.BlockCopy(frames[i], 0, packed, i * frameBytes, frameBytes);
        }
        using var scope = NewDisposeScope();
        var bytes = tensor(packed, [frames.Count, height, width, 3]);
        var video = bytes.permute(3, 0, 1, 2).unsqueeze(0).to(ScalarType.Float32).div_(127.5).sub_(1.0).contiguous();
        return scope.MoveToOuter(video);
    }

    /// <summary>
    /// Converts (1, 3, T, H, W) video to T rgb24 frames. Values are clamped to [-1, 1]; a non-finite value is an
    /// error naming its frame, never a black pixel.
    /// </summary>
    /// <param name="video">The frames.</param>
    /// <param name="firstFrameIndex">Index of the first frame in the whole video, for error messages.</param>
    public static byte[][] ToRgb24(Tensor video, long firstFrameIndex = 0)
    {
        ArgumentNullException.ThrowIfNull(video);
        if (video.dim() != 5 || video.shape[0] != 1 || video.shape[1] != 3)
            throw new ArgumentException($"expected one RGB video (1, 3, T, H, W), got shape [{string.Join(",", video.shape)}].", nameof(video));
        using var scope = NewDisposeScope();
        var v = video.detach().to(ScalarType.Float32, CPU);
        ThrowIfNotFinite(v, firstFrameIndex);
        long t = v.shape[2], h = v.shape[3], w = v.shape[4];
        var bytes = v.clamp(-1.0, 1.0).add(1.0).mul_(127.5).round_().to(ScalarType.Byte).squeeze(0).permute(1, 2, 3, 0).contiguous();
        var all = bytes.data<byte>().ToArray();
        long frameBytes = h * w * 3;
        var frames = new byte[t][];
        for (long i = 0; i < t; i++)
        {
            frames[i] = new byte[frameBytes];
            Array.Copy(all, i * frameBytes, frames[i], 0, frameBytes);
        }
        return frames;
    }

    /// <summary>Throws naming the first frame of (B, C, T, H, W) <paramref name="video"/> that holds NaN or ±Inf.</summary>
    public static void ThrowIfNotFinite(Tensor video, long firstFrameIndex = 0, string what = "decoded video", string consequence = "nothing was written for it")
    {
        using var scope = NewDisposeScope();
        var finite = video.isfinite();
        if (finite.all().item<bool>()) return;
        var perFrame = finite.all(4).all(3).all(1).all(0); // (T)
        var ok = perFrame.to(ScalarType.Int32).data<int>().ToArray();
        int bad = Array.IndexOf(ok, 0);
        throw new ArithmeticException($"the {what} has non-finite values (NaN or Inf) from frame {firstFrameIndex + bad}; {consequence}.");
    }
}
