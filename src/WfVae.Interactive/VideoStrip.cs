using static TorchSharp.torch;

namespace WfVae.Interactive;

/// <summary>
/// A video to show as one frame strip: its frames left to right, at most <see cref="MaxFrames"/> evenly spaced ones.
/// Holds the tensor it is given (it does not copy or dispose it).
/// </summary>
public sealed class VideoStrip
{
    /// <summary>How many frames a strip shows at most.</summary>
    public const int MaxFrames = 17;

    /// <summary>The video, (1, 3, T, H, W) in [-1, 1]; <see cref="Rows"/> videos stacked along H.</summary>
    public Tensor Video { get; }

    /// <summary>What each row of the strip shows, top to bottom.</summary>
    public IReadOnlyList<string> Rows { get; }

    /// <summary>A strip of one video.</summary>
    public VideoStrip(Tensor video, string label = "video")
    {
        ArgumentNullException.ThrowIfNull(video);
        CheckVideo(video, label);
        Video = video;
        Rows = [label];
    }

    private VideoStrip(Tensor stacked, IReadOnlyList<string> rows) { Video = stacked; Rows = rows; }

    /// <summary>Two videos of one shape as one strip, <paramref name="original"/> above <paramref name="reconstruction"/>.</summary>
    public static VideoStrip Compare(Tensor original, Tensor reconstruction, string originalLabel = "original", string reconstructionLabel = "reconstruction")
    {
        ArgumentNullException.ThrowIfNull(original);
        ArgumentNullException.ThrowIfNull(reconstruction);
        CheckVideo(original, originalLabel);
        CheckVideo(reconstruction, reconstructionLabel);
        if (!original.shape.SequenceEqual(reconstruction.shape))
            throw new ArgumentException($"{originalLabel} is ({string.Join(", ", original.shape)}) and {reconstructionLabel} is ({string.Join(", ", reconstruction.shape)}); a comparison strip needs one shape (trim the reconstruction to the original's frames).", nameof(reconstruction));
        var stacked = cat([original.detach().cpu().to(ScalarType.Float32), reconstruction.detach().cpu().to(ScalarType.Float32)], dim: 3);
        return new VideoStrip(stacked, [originalLabel, reconstructionLabel]);
    }

    /// <summary>Whether <paramref name="value"/> has the shape of one RGB video, (1, 3, T, H, W).</summary>
    public static bool IsVideo(Tensor value) => value.dim() == 5 && value.shape[0] == 1 && value.shape[1] == 3 && value.is_floating_point();

    private static void CheckVideo(Tensor video, string label)
    {
        if (!IsVideo(video))
            throw new ArgumentException($"{label} has shape ({string.Join(", ", video.shape)}) and type {video.dtype}; a video strip needs one floating-point RGB video (1, 3, T, H, W) in [-1, 1].");
    }
}
