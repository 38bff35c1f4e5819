using System.CommandLine;

namespace WfVae.Cli.Commands;

/// <summary><c>wfvae bench</c>: times encode/decode (whole and chunked), counts GFLOP, peak RSS, bf16 error, streaming memory.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var config = new Option<string?>("--config") { Description = "config.json of the model to build with random weights (e.g. the official WF-VAE-L config)." };
        var model = new Option<string?>("--model", "-m") { Description = "WF-VAE folder (config.json + diffusion_pytorch_model.safetensors) to load instead of --config." };
        var device = CliSupport.DeviceOption();
        var frames = new Option<string>("--frames") { Description = "Comma-separated video lengths (1 + 4k).", DefaultValueFactory = _ => "17" };
        var size = new Option<int>("--size") { Description = "Frame height and width (a multiple of 8).", DefaultValueFactory = _ => 256 };
        var height = new Option<int?>("--height") { Description = "Frame height (a multiple of 8; default --size)." };
        var width = new Option<int?>("--width") { Description = "Frame width (a multiple of 8; default --size)." };
        var tile = CliSupport.TileOption();
        var tileOverlap = CliSupport.TileOverlapOption();
        var tileCompare = new Option<bool>("--tile-compare") { Description = "With --tile: also run each length untiled once (encode + decode) and report tiled vs untiled PSNR and the seam metric." };
        var video = new Option<string?>("--video") { Description = "Input frames from this video file (scaled and centre-cropped to the size) instead of uniform noise." };
        var streamJob = new Option<string>("--stream-job") { Description = "What --stream runs through the pipeline: encode (VideoPipeline.Encode) or reconstruct (VideoPipeline.Reconstruct: encode + decode + mp4 write).", DefaultValueFactory = _ => "encode" };
        var threads = new Option<int>("--threads") { Description = "Torch intra-op threads (0 keeps the default).", DefaultValueFactory = _ => 0 };
        var repeat = new Option<int>("--repeat") { Description = "Timed runs per case after one warm-up run; the median is reported.", DefaultValueFactory = _ => 3 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed warm-up runs per case.", DefaultValueFactory = _ => 1 };
        var dtype = new Option<string>("--dtype") { Description = "fp32 or bf16 for both phases (see --encode-dtype / --decode-dtype).", DefaultValueFactory = _ => "fp32" };
        var encDtype = new Option<string?>("--encode-dtype") { Description = "fp32 or bf16 for encode (overrides --dtype)." };
        var decDtype = new Option<string?>("--decode-dtype") { Description = "fp32 or bf16 for decode (overrides --dtype)." };
        var chunk = new Option<int?>("--chunk-frames") { Description = "Chunked runs: video frames per encode chunk (multiple of 4); decode chunks get chunk/4 latent frames. Default 16." };
        var decChunk = new Option<int?>("--decode-chunk") { Description = "Chunked decode: latent frames per chunk (default: the model's automatic chunk size)." };
        var modes = new Option<string>("--modes") { Description = "Comma-separated: whole, chunked.", DefaultValueFactory = _ => "whole,chunked" };
        var phases = new Option<string>("--phases") { Description = "Comma-separated: encode, decode.", DefaultValueFactory = _ => "encode,decode" };
        var stream = new Option<string?>("--stream") { Description = "Streaming encode of generated testsrc2 videos of these lengths (e.g. 17,257) through the streaming pipeline (VideoPipeline.Encode: read-ahead decoding, Causal Cache chunks)." };
        var profile = new Option<bool>("--profile") { Description = "Per-block time profile (one extra run per case)." };
        var noError = new Option<bool>("--no-error") { Description = "Skip the fp32 reference runs that measure bf16 error." };
        var mmap = new Option<int>("--mmap-threshold-mb") { Description = "Set glibc's M_MMAP_THRESHOLD (MB) so freed activations go back to the OS (0 = glibc default).", DefaultValueFactory = _ => 0 };
        var components = new Option<string>("--components") { Description = "Model halves to load: all, encoder or decoder (a decode-only job needs no encoder weights).", DefaultValueFactory = _ => "all" };
        var json = new Option<string?>("--json") { Description = "Write the report as JSON to this file." };
        var seed = new Option<long>("--seed") { Description = "Seed of random weights and inputs.", DefaultValueFactory = _ => 0 };
        var cmd = new Command("bench", "Benchmark WF-VAE encode/decode speed, GFLOP/s, peak memory and bf16 error.")
        {
            config, model, device, frames, size, height, width, tile, tileOverlap, tileCompare, video, streamJob, threads, repeat, warmup, dtype, encDtype, decDtype, chunk, decChunk, modes, phases, stream, profile, noError, mmap, components, json, seed,
        };
        cmd.SetAction(r => CliSupport.Run(() =>
        {
            var o = new BenchOptions
            {
                ConfigPath = r.GetValue(config),
                ModelDir = r.GetValue(model),
                Device = r.GetValue(device)!,
                Frames = BenchOptions.ParseInts(r.GetValue(frames)!, "--frames"),
                Size = r.GetValue(size),
                Height = r.GetValue(height),
                Width = r.GetValue(width),
                TileSize = r.GetValue(tile),
                TileOverlap = r.GetValue(tileOverlap),
                TileCompare = r.GetValue(tileCompare),
                VideoPath = r.GetValue(video),
                StreamJob = BenchOptions.ParseList(r.GetValue(streamJob)!, "--stream-job", "encode", "reconstruct").Single(),
                Threads = r.GetValue(threads),
                Repeat = r.GetValue(repeat),
                Warmup = r.GetValue(warmup),
                EncodeDType = BenchOptions.ParseDType(r.GetValue(encDtype) ?? r.GetValue(dtype)!),
                DecodeDType = BenchOptions.ParseDType(r.GetValue(decDtype) ?? r.GetValue(dtype)!),
                ChunkFrames = r.GetValue(chunk) ?? 16,
                DecodeChunkLatents = r.GetValue(decChunk),
                Modes = BenchOptions.ParseList(r.GetValue(modes)!, "--modes", "whole", "chunked"),
                Phases = BenchOptions.ParseList(r.GetValue(phases)!, "--phases", "encode", "decode"),
                StreamFrames = r.GetValue(stream) is { } s ? BenchOptions.ParseInts(s, "--stream") : [],
                Profile = r.GetValue(profile),
                MeasureError = !r.GetValue(noError),
                MmapThresholdMb = r.GetValue(mmap),
                Components = BenchOptions.ParseComponents(r.GetValue(components)!),
                JsonPath = r.GetValue(json),
                Seed = r.GetValue(seed),
            };
            var report = BenchRunner.Run(o, Console.Out);
            if (o.JsonPath is { } path)
            {
                BenchRunner.WriteJson(report, path);
                Console.WriteLine($"wrote {path}");
            }
            return 0;
        }));
        return cmd;
    }
}
