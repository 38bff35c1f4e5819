using System.CommandLine;
using WfVae.Video;
using static TorchSharp.torch;

namespace WfVae.Cli.Commands;

/// <summary><c>wfvae decode</c>: latent_mean (or latent) → video (.safetensors 'video' or .mp4).</summary>
internal static class DecodeCommand
{
    public static Command Create()
    {
        var model = CliSupport.ModelOption();
        var device = CliSupport.DeviceOption();
        var input = new Option<string>("--input", "-i") { Description = "A .safetensors file with 'latent_mean' or 'latent' (B,z,t,h,w).", Required = true };
        var output = new Option<string>("--output", "-o") { Description = "Output .safetensors (tensor 'video') or .mp4.", Required = true };
        var chunk = CliSupport.ChunkFramesOption("Causal Cache chunked decoding: latent frames per chunk after frame 0 (≥ 1).");
        var fps = new Option<double>("--fps") { Description = "Frame rate of an .mp4 output.", DefaultValueFactory = _ => 8 };
        var cmd = new Command("decode", "Decode WF-VAE latents to video.") { model, device, input, output, chunk, fps };
        cmd.SetAction(r => CliSupport.Run(() =>
        {
            string inPath = r.GetValue(input)!, outPath = r.GetValue(output)!;
            bool mp4 = outPath.EndsWith(".mp4", StringComparison.OrdinalIgnoreCase);
            if (!mp4 && !CliSupport.IsSafetensors(outPath)) throw new ArgumentException($"--output '{outPath}' must end in .safetensors or .mp4.");
            using var m = CliSupport.LoadModel(r.GetValue(model), r.GetValue(device)!, WfVaeComponents.Decoder);
            using var scope = NewDisposeScope();
            var z = CliSupport.ReadTensor(inPath, "latent_mean", "latent");
            var video = m.Decode(z, r.GetValue(chunk));
            video = TrimToSource(inPath, video);
            if (mp4)
            {
                if (video.shape[0] != 1) throw new ArgumentException($"an .mp4 holds one video but the latent has batch {video.shape[0]}; write .safetensors instead.");
                VideoInput.WriteMp4(outPath, video, r.GetValue(fps));
            }
            else SafetensorsWriter.Write(outPath, [new("video", video)]);
            Console.WriteLine($"decoded latent {CliSupport.Shape(z)} -> video {CliSupport.Shape(video)} -> {outPath}");
            return 0;
        }));
        return cmd;
    }

    // `encode --pad` records the source size; cut the padded frames/rows back off.
    private static Tensor TrimToSource(string latentPath, Tensor video)
    {
        using var r = new SafetensorsReader(latentPath);
        if (r.Metadata.TryGetValue("source_frames", out var t) && r.Metadata.TryGetValue("source_height", out var h) && r.Metadata.TryGetValue("source_width", out var w)
            && long.TryParse(t, out var tt) && long.TryParse(h, out var hh) && long.TryParse(w, out var ww))
            return WfVaeModel.Trim(video, tt, hh, ww);
        return video;
    }
}
