using System.CommandLine;
using TorchSharp;
using WfVae.Pipeline;
using static TorchSharp.torch;

namespace WfVae.Cli.Commands;

/// <summary><c>wfvae encode</c>: video (.safetensors tensor or video file) → latent_mean / latent_logvar [/ latent].</summary>
internal static class EncodeCommand
{
    public static Command Create()
    {
        var model = CliSupport.ModelOption();
        var device = CliSupport.DeviceOption();
        var input = new Option<string>("--input", "-i") { Description = "A .safetensors file with a float32 tensor 'video' (B,3,T,H,W in [-1,1]) or a video file.", Required = true };
        var output = new Option<string>("--output", "-o") { Description = "Output .safetensors file.", Required = true };
        var chunk = CliSupport.ChunkFramesOption("Causal Cache chunking: video frames per chunk after frame 0 (a multiple of 4; video files default to 16). 0 = whole video at once.");
        var sample = new Option<bool>("--sample") { Description = "Also draw a latent sample ('latent')." };
        var seed = new Option<long>("--seed") { Description = "Seed for --sample.", DefaultValueFactory = _ => 0 };
        var size = new Option<int?>("--size") { Description = "Video file input: resize and centre-crop to SIZE×SIZE." };
        var maxFrames = new Option<int?>("--max-frames") { Description = "Video file input: read at most this many frames." };
        var pad = new Option<bool>("--pad") { Description = "Pad T to 1+4k and H, W to multiples of 8 (repeat last frame/edge) instead of failing." };
        var quiet = CliSupport.QuietOption();
        var tile = CliSupport.TileOption();
        var tileOverlap = CliSupport.TileOverlapOption();
        var cmd = new Command("encode", "Encode a video to WF-VAE latents.") { model, device, input, output, chunk, sample, seed, size, maxFrames, pad, tile, tileOverlap, quiet };
        cmd.SetAction(r => CliSupport.Run(ct =>
        {
            string outPath = r.GetValue(output)!;
            if (!CliSupport.IsSafetensors(outPath)) throw new ArgumentException($"--output '{outPath}' must end in .safetensors.");
            CliSupport.RequireInputFile(r.GetValue(input)!);
            CliSupport.RemoveStaleTemporariesBeside(outPath);
            using var m = CliSupport.LoadModel(r.GetValue(model), r.GetValue(device)!, WfVaeComponents.Encoder);
            CliSupport.ApplyTiling(m, r.GetValue(tile), r.GetValue(tileOverlap));
            using var scope = NewDisposeScope();
            string inPath = r.GetValue(input)!;
            LatentDistribution post;
            long t, h, w;
            string shown;
            if (CliSupport.IsSafetensors(inPath))
            {
                var video = CliSupport.ReadTensor(inPath, "video");
                long[] given = video.shape;
                if (r.GetValue(pad)) video = m.PadToValid(video);
                post = m.Encode(video, Chunking.FromCount(r.GetValue(chunk))); // checks the shape first
                (t, h, w) = (given[2], given[3], given[4]);
                shown = CliSupport.Shape(video);
            }
            else
            {
                // Video files stream through the Causal Cache: memory of one chunk, whatever the length.
                var chunking = CliSupport.EncodeChunking(r.GetValue(chunk), m);
                var source = new VideoSource
                {
                    Path = inPath, Width = r.GetValue(size), Height = r.GetValue(size), MaxFrames = r.GetValue(maxFrames),
                    Policy = r.GetValue(pad) ? ShapePolicy.PadAndTrim : ShapePolicy.Strict,
                };
                using var progress = ProgressLine.Frames(CliSupport.ProgressWriter(r.GetValue(quiet)));
                var encoded = new VideoPipeline(m, new StreamingOptions { EncodeChunking = chunking }).Encode(source, progress, ct);
                progress.Finish();
                post = encoded.Posterior;
                (t, h, w) = (encoded.SourceFrames, encoded.SourceHeight, encoded.SourceWidth);
                shown = $"{inPath} ({t} frames of {w}x{h})";
            }
            using var posterior = post;
            var tensors = new List<KeyValuePair<string, Tensor>> { new("latent_mean", post.Mean), new("latent_logvar", post.LogVar) };
            if (r.GetValue(sample)) tensors.Add(new("latent", post.Sample(r.GetValue(seed))));
            var meta = new Dictionary<string, string> { ["source_frames"] = $"{t}", ["source_height"] = $"{h}", ["source_width"] = $"{w}", ["producer"] = "wfvae encode" };
            ct.ThrowIfCancellationRequested();
            SafetensorsWriter.Write(outPath, tensors, meta);
            Console.WriteLine($"encoded {shown} -> latent {CliSupport.Shape(post.Mean)} -> {outPath}");
            return 0;
        }));
        return cmd;
    }
}
