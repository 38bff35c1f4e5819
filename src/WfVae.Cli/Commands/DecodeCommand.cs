using System.CommandLine;
using WfVae.Pipeline;
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
        var chunk = CliSupport.ChunkFramesOption("Causal Cache chunking: latent frames per chunk after frame 0 (≥ 1; default automatic, .mp4 output 1). 0 = whole latent at once.");
        var fps = new Option<double>("--fps") { Description = "Frame rate of an .mp4 output.", DefaultValueFactory = _ => 8 };
        var quiet = CliSupport.QuietOption();
        var tile = CliSupport.TileOption();
        var tileOverlap = CliSupport.TileOverlapOption();
        var cmd = new Command("decode", "Decode WF-VAE latents to video.") { model, device, input, output, chunk, fps, tile, tileOverlap, quiet };
        cmd.SetAction(r => CliSupport.Run(ct =>
        {
            string inPath = r.GetValue(input)!, outPath = r.GetValue(output)!;
            bool mp4 = outPath.EndsWith(".mp4", StringComparison.OrdinalIgnoreCase);
            if (!mp4 && !CliSupport.IsSafetensors(outPath)) throw new ArgumentException($"--output '{outPath}' must end in .safetensors or .mp4.");
            CliSupport.RequireInputFile(inPath);
            CliSupport.RemoveStaleTemporariesBeside(outPath);
            using var m = CliSupport.LoadModel(r.GetValue(model), r.GetValue(device)!, WfVaeComponents.Decoder);
            CliSupport.ApplyTiling(m, r.GetValue(tile), r.GetValue(tileOverlap));
            using var scope = NewDisposeScope();
            var z = CliSupport.ReadTensor(inPath, "latent_mean", "latent");
            var (t, h, w) = SourceSize(inPath);
            if (mp4)
            {
                if (z.shape[0] != 1) throw new ArgumentException($"an .mp4 holds one video but the latent has batch {z.shape[0]}; write .safetensors instead.");
                // Streams latent chunks to the writer: no whole video in memory.
                int step = r.GetValue(chunk) is int c and > 0 ? c : (r.GetValue(chunk) == 0 ? (int)Math.Max(1, z.shape[2]) : WfVaeModel.DefaultDecodeChunkLatentFrames);
                using var progress = ProgressLine.Frames(CliSupport.ProgressWriter(r.GetValue(quiet)));
                long written = new VideoPipeline(m, new StreamingOptions { DecodeChunkLatentFrames = step })
                    .DecodeToMp4(z, outPath, r.GetValue(fps), t, (int?)h, (int?)w, progress, ct);
                progress.Finish();
                Console.WriteLine($"decoded latent {CliSupport.Shape(z)} -> {written} frames of {w ?? m.ShapeRules.VideoSide(z.shape[4])}x{h ?? m.ShapeRules.VideoSide(z.shape[3])} -> {outPath}");
                return 0;
            }
            var video = m.Decode(z, Chunking.FromCount(r.GetValue(chunk)));
            if (t is long tt && h is long hh && w is long ww) video = WfVaeModel.Trim(video, tt, hh, ww);
            ct.ThrowIfCancellationRequested();
            SafetensorsWriter.Write(outPath, [new("video", video)]);
            Console.WriteLine($"decoded latent {CliSupport.Shape(z)} -> video {CliSupport.Shape(video)} -> {outPath}");
            return 0;
        }));
        return cmd;
    }

    // `wfvae encode` records the source size; decoding cuts the padded frames/rows back off.
    private static (long? Frames, long? Height, long? Width) SourceSize(string latentPath)
    {
        using var r = new SafetensorsReader(latentPath);
        if (r.Metadata.TryGetValue("source_frames", out var t) && r.Metadata.TryGetValue("source_height", out var h) && r.Metadata.TryGetValue("source_width", out var w)
            && long.TryParse(t, out var tt) && long.TryParse(h, out var hh) && long.TryParse(w, out var ww))
            return (tt, hh, ww);
        return (null, null, null);
    }
}
