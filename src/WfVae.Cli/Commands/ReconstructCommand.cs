using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using WfVae.Metrics;
using WfVae.Video;
using static TorchSharp.torch;

namespace WfVae.Cli.Commands;

/// <summary>
/// <c>wfvae reconstruct IN OUT.mp4</c>: the main job. Reads a video, pads it to a valid shape (T = 1+4k, H, W multiples
/// of 8; repeated last frame / edge), encodes and decodes it through the Causal Cache chunk by chunk, trims the padding,
/// writes the reconstruction and prints PSNR / SSIM against the input (spec §7.4 definitions).
/// </summary>
internal static class ReconstructCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("input") { Description = "Input video file (anything ffmpeg reads)." };
        var output = new Argument<string>("output") { Description = "Output .mp4 of the reconstruction." };
        var model = CliSupport.ModelOption();
        var device = CliSupport.DeviceOption();
        var size = new Option<int?>("--size") { Description = "Resize and centre-crop the input to SIZE×SIZE before encoding (e.g. 64 or 256)." };
        var maxFrames = new Option<int?>("--max-frames") { Description = "Read at most this many frames.", DefaultValueFactory = _ => 65 };
        var chunk = CliSupport.ChunkFramesOption("Causal Cache chunking: video frames per encode chunk after frame 0 (multiple of 4; default 16). 0 = whole video at once.");
        var strip = new Option<string?>("--strip") { Description = "Also write a PNG with input frames (top) over reconstructed frames (bottom)." };
        var sample = new Option<bool>("--sample") { Description = "Decode a posterior sample instead of the mean (mode)." };
        var fpsOpt = new Option<double?>("--fps") { Description = "Frame rate of the output (default: the input's)." };
        var threads = new Option<int?>("--threads") { Description = "Torch intra-op threads (default: torch's choice)." };
        var cmd = new Command("reconstruct", "Encode and decode a video with WF-VAE (Causal Cache chunks), write the reconstruction, print PSNR/SSIM.")
        {
            input, output, model, device, size, maxFrames, chunk, strip, sample, fpsOpt, threads,
        };
        cmd.SetAction(r => CliSupport.Run(() =>
        {
            if (r.GetValue(threads) is int nt) TorchSharp.torch.set_num_threads(nt);
            string inPath = r.GetValue(input)!, outPath = r.GetValue(output)!;
            if (!File.Exists(inPath)) throw new FileNotFoundException($"input '{inPath}' does not exist.", inPath);
            if (!outPath.EndsWith(".mp4", StringComparison.OrdinalIgnoreCase)) throw new ArgumentException($"output '{outPath}' must end in .mp4.");
            int chunkFrames = r.GetValue(chunk) ?? 16;
            if (chunkFrames != 0 && (chunkFrames < 4 || chunkFrames % 4 != 0))
                throw new ArgumentException($"--chunk-frames must be 0 or a positive multiple of 4, got {chunkFrames}.");
            var info = VideoReader.Probe(inPath);
            double fps = r.GetValue(fpsOpt) ?? (info.FrameRate > 0 ? info.FrameRate : 8);

            using var m = CliSupport.LoadModel(r.GetValue(model), r.GetValue(device)!);
            using var scope = NewDisposeScope();
            var video = VideoInput.Read(inPath, r.GetValue(size), r.GetValue(maxFrames));
            long t = video.shape[2], h = video.shape[3], w = video.shape[4];
            var padded = WfVaeModel.PadToValid(video);
            var sw = Stopwatch.StartNew();
            Tensor recon;
            using (var post = m.Encode(padded, chunkFrames == 0 ? null : chunkFrames))
            {
                var z = r.GetValue(sample) ? post.Sample(0) : post.Mean;
                recon = m.Decode(z, chunkFrames == 0 ? null : Math.Max(1, chunkFrames / 4));
            }
            double seconds = sw.Elapsed.TotalSeconds;
            recon = WfVaeModel.Trim(recon, t, h, w).clamp(-1, 1);
            VideoInput.WriteMp4(outPath, recon, fps);
            if (r.GetValue(strip) is { } stripPath)
            {
                using var both = cat([video, recon], 3).cpu().contiguous();
                VideoWriter.WriteFrameStripPng(stripPath, both.data<float>().ToArray(), (int)t, (int)(2 * h), (int)w);
            }
            double psnr = VideoMetrics.Psnr(video, recon);
            string ssim = h >= VideoMetrics.SsimWindow && w >= VideoMetrics.SsimWindow
                ? VideoMetrics.Ssim(video, recon).ToString("F4", CultureInfo.InvariantCulture) : "n/a (frames < 11 px)";
            string modelName = m.SourceDirectory ?? "(model)";
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"reconstructed {t} frames of {w}x{h} with {modelName} (chunks of {(chunkFrames == 0 ? "all" : chunkFrames.ToString(CultureInfo.InvariantCulture))} frames) in {seconds:F2} s -> {outPath}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"PSNR {psnr:F2} dB  SSIM {ssim}"));
            return 0;
        }));
        return cmd;
    }
}
