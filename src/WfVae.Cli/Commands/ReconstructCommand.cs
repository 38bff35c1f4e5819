using System.CommandLine;
using System.Globalization;
using WfVae.Pipeline;

namespace WfVae.Cli.Commands;

/// <summary>
/// <c>wfvae reconstruct -i IN -o OUT.mp4</c> (or <c>wfvae reconstruct IN OUT.mp4</c>): the main job. Streams a video through the model (read ahead by ffmpeg, padded
/// to a valid shape, encoded and decoded chunk by chunk through the Causal Cache, trimmed), writes the
/// reconstruction as it goes and prints PSNR / SSIM against the input (spec §7.4 definitions), accumulated per frame.
/// </summary>
internal static class ReconstructCommand
{
    public static Command Create()
    {
        var input = new Option<string?>("--input", "-i") { Description = "Input video file (anything ffmpeg reads)." };
        var output = new Option<string?>("--output", "-o") { Description = "Output .mp4 of the reconstruction (its folder is created)." };
        var inputArg = new Argument<string?>("input") { Description = "Same as --input.", Arity = ArgumentArity.ZeroOrOne };
        var outputArg = new Argument<string?>("output") { Description = "Same as --output.", Arity = ArgumentArity.ZeroOrOne };
        var model = CliSupport.ModelOption();
        var device = CliSupport.DeviceOption();
        var size = new Option<int?>("--size") { Description = "Resize and centre-crop the input to SIZE×SIZE before encoding (e.g. 64 or 256)." };
        var maxFrames = new Option<int?>("--max-frames") { Description = "Read at most this many frames (default: the whole video)." };
        var chunk = CliSupport.ChunkFramesOption("Causal Cache chunking: video frames per encode chunk after frame 0 (multiple of 4; default 16). 0 = whole video at once.");
        var strip = new Option<string?>("--strip") { Description = "Also write a PNG with input frames (top) over reconstructed frames (bottom)." };
        var report = new Option<string?>("--report") { Description = "Also write a PNG report: input and reconstruction strips with frame numbers, and the per-frame PSNR plot." };
        var quiet = CliSupport.QuietOption();
        var sample = new Option<bool>("--sample") { Description = "Decode a posterior sample instead of the mean (mode)." };
        var fpsOpt = new Option<double?>("--fps") { Description = "Frame rate of the output (default: the input's)." };
        var threads = CliSupport.ThreadsOption();
        var tile = CliSupport.TileOption();
        var tileOverlap = CliSupport.TileOverlapOption();
        var cmd = new Command("reconstruct", "Encode and decode a video with WF-VAE as a stream (Causal Cache chunks), write the reconstruction, print PSNR/SSIM.")
        {
            inputArg, outputArg, input, output, model, device, size, maxFrames, chunk, strip, report, sample, fpsOpt, threads, tile, tileOverlap, quiet,
        };
        cmd.SetAction(r => CliSupport.Run(ct =>
        {
            CliSupport.ApplyThreads(r.GetValue(threads));
            string inPath = CliSupport.OneOf(r.GetValue(input), r.GetValue(inputArg), "--input (-i)", "an input video");
            string outPath = CliSupport.OneOf(r.GetValue(output), r.GetValue(outputArg), "--output (-o)", "an output .mp4");
            CliSupport.RequireInputFile(inPath);
            if (!outPath.EndsWith(".mp4", StringComparison.OrdinalIgnoreCase)) throw new ArgumentException($"output '{outPath}' must end in .mp4.");
            string? reportPath = r.GetValue(report);
            if (reportPath is not null && !reportPath.EndsWith(".png", StringComparison.OrdinalIgnoreCase)) throw new ArgumentException($"--report '{reportPath}' must end in .png.");
            if (r.GetValue(chunk) is < 0)
                throw new ArgumentException($"--chunk-frames must be 0 (whole video) or a positive multiple of 4, got {r.GetValue(chunk)}.");
            var source = new VideoSource { Path = inPath, Width = r.GetValue(size), Height = r.GetValue(size), MaxFrames = r.GetValue(maxFrames) };

            CliSupport.RemoveStaleTemporariesBeside(outPath, r.GetValue(strip), reportPath);
            using var m = CliSupport.LoadModel(r.GetValue(model), r.GetValue(device)!);
            CliSupport.ApplyTiling(m, r.GetValue(tile), r.GetValue(tileOverlap));
            var options = new StreamingOptions { EncodeChunking = CliSupport.EncodeChunking(r.GetValue(chunk), m), SampleSeed = r.GetValue(sample) ? 0 : null };
            var pipeline = new VideoPipeline(m, options);
            string title = $"wfvae reconstruct {Path.GetFileName(inPath)} -> {Path.GetFileName(outPath)} ({Path.GetFileName(Path.TrimEndingDirectorySeparator(m.SourceDirectory ?? "model"))})";
            var reportOutput = reportPath is null ? null
                : new ReconstructionReport(reportPath, (path, res, frames) => ReconstructionReportImage.Write(path, title, res, frames, ct));
            using var progress = ProgressLine.Frames(CliSupport.ProgressWriter(r.GetValue(quiet)));
            var result = pipeline.Reconstruct(source, outPath, r.GetValue(fpsOpt), r.GetValue(strip), progress, ct, reportOutput);
            progress.Finish();
            string modelName = m.SourceDirectory ?? "(model)";
            string ssim = result.SsimPerFrame is null ? $"n/a (frames < {WfVae.Metrics.VideoMetrics.SsimWindow} px)" : result.Ssim.ToString("F4", CultureInfo.InvariantCulture);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"reconstructed {result.Frames} frames of {result.Width}x{result.Height} with {modelName} (chunks of {(options.EncodeChunking.Mode == ChunkingMode.Whole ? "all" : options.ChunkFramesAfterFirst(m).ToString(CultureInfo.InvariantCulture))} frames{(m.Inference.Tiling.Applies(m.ShapeRules.PaddedSide(result.Height), m.ShapeRules.PaddedSide(result.Width)) ? $"; {m.Inference.Tiling}" : "")}) in {result.Elapsed.TotalSeconds:F2} s ({result.Frames / Math.Max(1e-9, result.Elapsed.TotalSeconds):F2} frames/s) -> {outPath}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"PSNR {result.Psnr:F2} dB  SSIM {ssim}  (lowest frame PSNR {result.PsnrPerFrame.Min():F2} dB)"));
            return 0;
        }));
        return cmd;
    }
}
