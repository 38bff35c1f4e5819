using WfVae.Training;
using WfVae.Video;

namespace WfVae.Pipeline;

/// <summary>Whole video files as rgb24 frames for training clips: the decoder <see cref="VideoClipDataset"/> is given.</summary>
public static class TrainingVideos
{
    /// <summary>Decodes <paramref name="path"/> (resized and cut by <paramref name="read"/>, native otherwise).</summary>
    public static DecodedVideo Read(string path, VideoReadOptions? read = null, CancellationToken ct = default)
    {
        var video = VideoReader.ReadAllRgb24(path, read, ct);
        return new DecodedVideo(video.Frames, video.Height, video.Width);
    }
}
