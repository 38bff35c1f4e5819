#:project ../src/WfVae.Pipeline/WfVae.Pipeline.csproj
#:property PublishAot=false
// WF-VAE quickstart, a runnable notebook: `dotnet run notebooks/01-model-quickstart.cs [-- MODEL_DIR]`.
// Generates a short clip with ffmpeg, encodes it whole and through the Causal Cache, checks both give the same
// latents, decodes, reports PSNR/SSIM, and streams the file through the pipeline. Without MODEL_DIR it uses the model shipped in models/wfvae-default.
using System.Diagnostics;
using WfVae;
using WfVae.Metrics;
using WfVae.Pipeline;
using WfVae.Video;
using static TorchSharp.torch;

// ## 1. Load a model (any WFVAEModel folder: config.json + diffusion_pytorch_model.safetensors)
string modelDir = args.Length > 0 ? args[0] : DefaultModel.Directory ?? throw new InvalidOperationException("no default model; pass a model folder");
using var model = WfVaeModel.Load(modelDir);
Console.WriteLine($"model: {modelDir}, {model.ParameterCount:N0} parameters, latent_dim {model.Config.LatentDim}");

// ## 2. Make a 17-frame 64×64 clip with ffmpeg's testsrc2 and read it as (1, 3, T, H, W) in [-1, 1]
string clipPath = Path.Combine(Path.GetTempPath(), $"wfvae-notebook-{Guid.NewGuid():N}.mp4");
var ffmpeg = Process.Start(new ProcessStartInfo("ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=8", "-frames:v", "17", "-pix_fmt", "yuv444p", "-c:v", "libx264", "-crf", "0", clipPath]))!;
ffmpeg.WaitForExit();
var clip = VideoReader.ReadAllRgb24(clipPath);
using var video = FrameTensors.FromRgb24(clip.Frames, clip.Height, clip.Width);   // the one frames ↔ tensor bridge
Console.WriteLine($"clip: {clip.Frames.Count} frames of {clip.Width}×{clip.Height}");

// ## 3. Encode whole and chunk by chunk (frame 0, then 4 frames per chunk): the latents agree
using var whole = model.Encode(video);
using var chunked = model.Encode(video, chunkFrames: 4);
double latentDiff = (whole.Mean - chunked.Mean).abs().max().item<float>();
Console.WriteLine($"latent {string.Join("×", whole.Mean.shape)}; max |whole − chunked| = {latentDiff:E2}");

// ## 4. Stream the encoder yourself with a caller-owned cache (what the ML.NET stage does for long files)
using (var cache = model.CreateEncoderCache())
{
    foreach (var (start, length) in WfVaeModel.ChunkSchedule(video.shape[2], 8))
    {
        using var part = model.EncodeChunk(video.narrow(2, start, length), cache);
        Console.WriteLine($"  chunk [{start},{start + length}) -> {part.Mean.shape[2]} latent frame(s)");
    }
}

// ## 5. Decode and measure
using var recon = model.Decode(whole.Mean, chunkLatentFrames: 2);
Console.WriteLine($"reconstruction PSNR {VideoMetrics.Psnr(video, recon):F2} dB, SSIM {VideoMetrics.Ssim(video, recon):F4}");

// ## 6. Files stream: the pipeline reads ahead, encodes in Causal Cache chunks and writes the mp4 as it decodes
string reconPath = Path.ChangeExtension(clipPath, ".recon.mp4");
var result = new VideoPipeline(model).Reconstruct(new VideoSource { Path = clipPath }, reconPath);
Console.WriteLine($"streamed: {result.Frames} frames, PSNR {result.Psnr:F2} dB, lowest frame {result.PsnrPerFrame.Min():F2} dB");
File.Delete(clipPath);
File.Delete(reconPath);
if (latentDiff > 1e-5) { Console.Error.WriteLine("chunked and whole latents differ"); return 1; }
Console.WriteLine("notebook OK");
return 0;
