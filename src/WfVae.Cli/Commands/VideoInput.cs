using WfVae.Video;
using static TorchSharp.torch;

namespace WfVae.Cli.Commands;

/// <summary>Bridges tensors and the video reader/writer for the commands.</summary>
internal static class VideoInput
{
    /// <summary>Reads a .safetensors 'video' tensor or decodes a video file to (1,3,T,H,W) in [-1,1].</summary>
    public static Tensor Read(string path, int? size = null, int? maxFrames = null)
    {
        if (CliSupport.IsSafetensors(path)) return CliSupport.ReadTensor(path, "video");
        if (!File.Exists(path)) throw new FileNotFoundException($"input '{path}' does not exist.", path);
        var options = new VideoReadOptions { Width = size, Height = size, MaxFrames = maxFrames };
        var clip = VideoReader.ReadAll(path, options);
        return tensor(clip.Data, [1, 3, clip.Frames, clip.Height, clip.Width]);
    }

    /// <summary>Writes (1,3,T,H,W) in [-1,1] as an mp4.</summary>
    public static void WriteMp4(string path, Tensor video, double fps)
    {
        using var cpu = video.detach().cpu().to(ScalarType.Float32).contiguous();
        VideoWriter.WriteMp4(path, cpu.data<float>().ToArray(), (int)cpu.shape[2], (int)cpu.shape[3], (int)cpu.shape[4], fps);
    }
}
