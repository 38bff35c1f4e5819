using WfVae.Pipeline;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using WfVae.Metrics;
using WfVae.Profiling;
using WfVae.Video;
using static TorchSharp.torch;

namespace WfVae.Cli.Commands;

/// <summary>Settings of one <c>wfvae bench</c> run.</summary>
internal sealed record BenchOptions
{
    public string? ConfigPath { get; init; }
    public string? ModelDir { get; init; }
    public string Device { get; init; } = "cpu";
    public IReadOnlyList<int> Frames { get; init; } = [17];
    public int Size { get; init; } = 256;
    public int? Height { get; init; }
    public int? Width { get; init; }
    /// <summary>Frame height in effect (<see cref="Height"/>, else <see cref="Size"/>).</summary>
    public int H => Height ?? Size;
    /// <summary>Frame width in effect (<see cref="Width"/>, else <see cref="Size"/>).</summary>
    public int W => Width ?? Size;
    public int? TileSize { get; init; }
    public int? TileOverlap { get; init; }
    public bool TileCompare { get; init; }
    public string? VideoPath { get; init; }
    public string StreamJob { get; init; } = "encode";
    public int Threads { get; init; }
    public int Repeat { get; init; } = 3;
    public int Warmup { get; init; } = 1;
    public ScalarType EncodeDType { get; init; } = ScalarType.Float32;
    public ScalarType DecodeDType { get; init; } = ScalarType.Float32;
    /// <summary>Video frames per encode chunk; decode chunks hold <see cref="DecodeChunkLatents"/> latent frames.</summary>
    public int ChunkFrames { get; init; } = 16;
    public int? DecodeChunkLatents { get; init; }
    public IReadOnlyList<string> Modes { get; init; } = ["whole", "chunked"];
    public IReadOnlyList<string> Phases { get; init; } = ["encode", "decode"];
    public IReadOnlyList<int> StreamFrames { get; init; } = [];
    public bool Profile { get; init; }
    public bool MeasureError { get; init; } = true;
    /// <summary>glibc M_MMAP_THRESHOLD in MB (0 = leave glibc's dynamic default).</summary>
    public int MmapThresholdMb { get; init; }
    public WfVaeComponents Components { get; init; } = WfVaeComponents.All;
    public string? JsonPath { get; init; }
    public long Seed { get; init; }

    public static IReadOnlyList<int> ParseInts(string s, string option)
    {
        var parts = s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var list = new List<int>();
        foreach (var p in parts)
        {
            if (!int.TryParse(p, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) || v < 1)
                throw new ArgumentException($"{option} '{s}': '{p}' is not a positive integer.");
            list.Add(v);
        }
        if (list.Count == 0) throw new ArgumentException($"{option} is empty.");
        return list;
    }

    public static IReadOnlyList<string> ParseList(string s, string option, params string[] allowed)
    {
        var parts = s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(p => p.ToLowerInvariant()).Distinct().ToList();
        foreach (var p in parts)
            if (!allowed.Contains(p)) throw new ArgumentException($"{option} '{p}' is not one of {string.Join(", ", allowed)}.");
        if (parts.Count == 0) throw new ArgumentException($"{option} is empty.");
        return parts;
    }

    public static ScalarType ParseDType(string s) => s.ToLowerInvariant() switch
    {
        "fp32" or "float32" or "float" => ScalarType.Float32,
        "bf16" or "bfloat16" => ScalarType.BFloat16,
        _ => throw new ArgumentException($"dtype '{s}' is not supported; use fp32 or bf16."),
    };

    public static WfVaeComponents ParseComponents(string s) => s.ToLowerInvariant() switch
    {
        "all" => WfVaeComponents.All,
        "encoder" => WfVaeComponents.Encoder,
        "decoder" => WfVaeComponents.Decoder,
        _ => throw new ArgumentException($"--components '{s}' is not valid; use all, encoder or decoder."),
    };

    public static string DTypeName(ScalarType t) => t == ScalarType.BFloat16 ? "bf16" : t == ScalarType.Float32 ? "fp32" : t.ToString();
}

/// <summary>Runs the benchmark and builds its JSON report (fields documented in docs/bench.md).</summary>
internal static class BenchRunner
{
    public const string Schema = "wfvae-bench/1";

    public static JsonObject Run(BenchOptions o, TextWriter log)
    {
        if ((o.ConfigPath is null) == (o.ModelDir is null))
            throw new ArgumentException("give exactly one of --config CONFIG.json (random weights) or --model DIR (a WF-VAE folder).");
        if (o.Repeat < 1) throw new ArgumentException("--repeat must be at least 1.");
        if (o.Warmup < 0) throw new ArgumentException("--warmup must be 0 or more.");
        if (o.Threads > 0) torch.set_num_threads(o.Threads);
        bool mmapSet = o.MmapThresholdMb > 0 && NativeAllocator.SetMmapThreshold(o.MmapThresholdMb * 1024L * 1024);
        if (o.DecodeChunkLatents is < 1) throw new ArgumentException($"--decode-chunk {o.DecodeChunkLatents} must be at least 1 latent frame.");
        var device = WfVaeModel.ParseDevice(o.Device);
        bool anyBf16 = o.EncodeDType != ScalarType.Float32 || o.DecodeDType != ScalarType.Float32;
        if (o.Components != WfVaeComponents.All)
        {
            string missing = o.Components == WfVaeComponents.Decoder ? "encode" : "decode";
            if (o.Phases.Contains(missing) || o.StreamFrames.Count > 0 && missing == "encode")
                throw new ArgumentException($"--components {o.Components.ToString().ToLowerInvariant()} cannot run the {missing} phase (or --stream); drop it from --phases or load all.");
            if (anyBf16 && o.MeasureError)
                throw new ArgumentException("the bf16 error reference runs encode and decode; use --components all or --no-error.");
        }

        var report = new JsonObject
        {
            ["schema"] = Schema,
            ["started_utc"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture),
            ["machine"] = MachineInfo(),
        };
        var sw = Stopwatch.StartNew();
        using var model = (o.ModelDir is { } dir ? WfVaeModel.Load(dir, device, o.Components) : WfVaeModel.Create(WfVaeConfig.Load(o.ConfigPath!), o.Seed, device, o.Components)).WithInference(CliSupport.InferenceFromEnvironment());
        CliSupport.ApplyTiling(model, o.TileSize, o.TileOverlap);
        if (o.TileCompare && (o.TileSize is null || !o.Phases.Contains("encode") || !o.Phases.Contains("decode") || anyBf16 && o.MeasureError))
            throw new ArgumentException("--tile-compare needs --tile and both phases (encode,decode), and no bf16 error reference (add --no-error).");
        if (o.VideoPath is { } vp && !File.Exists(vp)) throw new FileNotFoundException($"--video '{vp}' does not exist.", vp);
        double buildS = sw.Elapsed.TotalSeconds;
        foreach (var f in o.Frames) model.ShapeRules.Validate(f, o.H, o.W, "--frames/--size/--height/--width");
        model.ShapeRules.ValidateChunkFrames(o.ChunkFrames, "--chunk-frames", "--chunk-frames");
        long decodeChunk = o.DecodeChunkLatents ?? WfVaeModel.DefaultDecodeChunkLatentFrames;
        report["model"] = new JsonObject
        {
            ["source"] = o.ModelDir is not null ? Path.GetFullPath(o.ModelDir) : Path.GetFullPath(o.ConfigPath!),
            ["random_weights"] = o.ModelDir is null,
            ["parameters"] = model.ParameterCount,
            ["encoder_parameters"] = model.EncoderParameterCount,
            ["components"] = o.Components.ToString().ToLowerInvariant(),
            ["device"] = o.Device,
            ["encode_dtype"] = BenchOptions.DTypeName(o.EncodeDType),
            ["decode_dtype"] = BenchOptions.DTypeName(o.DecodeDType),
            ["build_seconds"] = Round(buildS, 3),
            ["rss_after_build_mb"] = Round(Rss.CurrentMb(), 1),
        };
        report["settings"] = new JsonObject
        {
            ["frames"] = new JsonArray(o.Frames.Select(f => (JsonNode)f).ToArray()),
            ["size"] = o.Size,
            ["height"] = o.H,
            ["width"] = o.W,
            ["tiling"] = model.Inference.Tiling.ToString(),
            ["tiles"] = model.Inference.Tiling.Applies(o.H, o.W) ? model.Inference.Tiling.Spans(o.H).Count * model.Inference.Tiling.Spans(o.W).Count : 1,
            ["input"] = o.VideoPath is { } input ? Path.GetFullPath(input) : "uniform noise",
            ["threads"] = torch.get_num_threads(),
            ["repeat"] = o.Repeat,
            ["warmup"] = o.Warmup,
            ["encode_chunk_frames"] = o.ChunkFrames,
            ["decode_chunk_latent_frames"] = decodeChunk,
            ["modes"] = new JsonArray(o.Modes.Select(m => (JsonNode)m).ToArray()),
            ["phases"] = new JsonArray(o.Phases.Select(m => (JsonNode)m).ToArray()),
            ["malloc_mmap_threshold_mb"] = mmapSet ? o.MmapThresholdMb : null,
        };
        log.WriteLine($"model: {model.ParameterCount:N0} parameters, built in {buildS:F1}s; threads {torch.get_num_threads()}; RSS {Rss.CurrentMb():F0} MB; frames {o.W}x{o.H}, tiling {model.Inference.Tiling}");

        // Work: multiply-accumulates counted from the layer shapes the forward actually runs.
        var work = new JsonArray();
        var macs = new Dictionary<int, MacCount>();
        foreach (var f in o.Frames)
        {
            var c = MacCounter.Count(model, f, o.H, o.W);
            macs[f] = c;
            work.Add(new JsonObject
            {
                ["frames"] = f,
                ["encode_gmac"] = Round(c.EncodeMacs / 1e9, 1),
                ["decode_gmac"] = Round(c.DecodeMacs / 1e9, 1),
                ["encode_attention_gmac"] = Round(c.EncodeAttentionMacs / 1e9, 2),
                ["decode_attention_gmac"] = Round(c.DecodeAttentionMacs / 1e9, 2),
                ["encode_gflop"] = Round(2 * c.EncodeMacs / 1e9, 1),
                ["decode_gflop"] = Round(2 * c.DecodeMacs / 1e9, 1),
            });
            log.WriteLine($"work {f}x{o.W}x{o.H}: encode {c.EncodeMacs / 1e9:F0} GMAC, decode {c.DecodeMacs / 1e9:F0} GMAC");
        }
        report["work"] = work;

        // fp32 references for the bf16 error (run before the cast, through the chunked path to keep memory low).
        var refLatent = new Dictionary<int, Tensor>();
        var refRecon = new Dictionary<int, Tensor>();
        try
        {
            if (anyBf16 && o.MeasureError)
            {
                foreach (var f in o.Frames)
                {
                    using var video = MakeVideo(f, o);
                    var t0 = Stopwatch.GetTimestamp();
                    using (var post = model.Encode(video, o.ChunkFrames)) refLatent[f] = post.Mean.clone().DetachFromDisposeScope();
                    if (o.Phases.Contains("decode")) refRecon[f] = model.Decode(refLatent[f], (int)decodeChunk).DetachFromDisposeScope();
                    log.WriteLine($"fp32 reference {f} frames: {Stopwatch.GetElapsedTime(t0).TotalSeconds:F1}s");
                }
            }
            model.ToDType(o.EncodeDType, o.DecodeDType);
            RunCases(model, o, decodeChunk, macs, refLatent, refRecon, report, log);
        }
        finally
        {
            foreach (var t in refLatent.Values) t.Dispose();
            foreach (var t in refRecon.Values) t.Dispose();
        }

        if (o.StreamFrames.Count > 0) report["streaming"] = Streaming(model, o, log);
        report["machine"]!.AsObject()["load_average_end"] = LoadAverage();
        report["total_seconds"] = Round(sw.Elapsed.TotalSeconds, 1);
        return report;
    }

    private static void RunCases(WfVaeModel model, BenchOptions o, long decodeChunk, Dictionary<int, MacCount> macs,
        Dictionary<int, Tensor> refLatent, Dictionary<int, Tensor> refRecon, JsonObject report, TextWriter log)
    {
        var results = new JsonArray();
        var errors = new JsonArray();
        var chunkDiffs = new JsonArray();
        var profiles = new JsonArray();
        var tileComparisons = new JsonArray();
        foreach (var f in o.Frames)
        {
            using var scope = NewDisposeScope();
            var video = MakeVideo(f, o);
            Tensor? latent = null;
            var outputs = new Dictionary<string, Tensor>();
            try
            {
            if (o.Phases.Contains("encode"))
            {
                foreach (var mode in o.Modes)
                {
                    Chunking chunk = mode == "whole" ? Chunking.Whole : o.ChunkFrames;
                    Tensor? last = null;
                    var r = TimeCase(o, $"encode {f}f {mode}", log, () =>
                    {
                        last?.Dispose();
                        using var post = model.Encode(video, chunk);
                        last = post.Mean.clone().DetachFromDisposeScope();
                    });
                    outputs["encode/" + mode] = last!;
                    results.Add(CaseJson("encode", f, mode, mode == "whole" ? null : chunk.Frames, o.EncodeDType, r, macs[f].EncodeMacs, f, log));
                    if (o.Profile)
                        profiles.Add(ProfileJson(model, "encode", f, mode, () => { using var p = model.Encode(video, chunk); }));
                }
                latent = outputs.GetValueOrDefault("encode/whole") ?? outputs.GetValueOrDefault("encode/chunked");
                if (outputs.TryGetValue("encode/whole", out var a) && outputs.TryGetValue("encode/chunked", out var b))
                    chunkDiffs.Add(new JsonObject { ["phase"] = "encode", ["frames"] = f, ["max_abs_diff"] = MaxAbs(a, b) });
            }
            if (o.Phases.Contains("decode"))
            {
                // Decode the fp32 encoder's latent when measuring bf16 error (so only decode error is measured).
                if (refLatent.TryGetValue(f, out var rl)) latent = rl;
                if (latent is null)
                {
                    using var g = new Generator((ulong)(4321 + f + o.Seed));
                    latent = randn(model.LatentShape(1, f, o.H, o.W), generator: g);
                }
                foreach (var mode in o.Modes)
                {
                    Chunking chunk = mode == "whole" ? Chunking.Whole : (int)decodeChunk;
                    Tensor? last = null;
                    var lat = latent;
                    var r = TimeCase(o, $"decode {f}f {mode}", log, () =>
                    {
                        last?.Dispose();
                        last = model.Decode(lat, chunk).DetachFromDisposeScope();
                    });
                    outputs["decode/" + mode] = last!;
                    results.Add(CaseJson("decode", f, mode, mode == "whole" ? null : chunk.Frames, o.DecodeDType, r, macs[f].DecodeMacs, f, log));
                    if (o.Profile)
                        profiles.Add(ProfileJson(model, "decode", f, mode, () => { using var v = model.Decode(lat, chunk); }));
                }
                if (outputs.TryGetValue("decode/whole", out var a) && outputs.TryGetValue("decode/chunked", out var b))
                    chunkDiffs.Add(new JsonObject { ["phase"] = "decode", ["frames"] = f, ["max_abs_diff"] = MaxAbs(a, b) });
            }
            if (o.TileCompare)
            {
                var tiledLatent = outputs.GetValueOrDefault("encode/whole") ?? outputs["encode/chunked"];
                var tiledRecon = outputs.GetValueOrDefault("decode/whole") ?? outputs["decode/chunked"];
                tileComparisons.Add(CompareUntiled(model, o, f, video, tiledLatent, tiledRecon, decodeChunk, log));
            }
            if (refLatent.ContainsKey(f) || refRecon.ContainsKey(f))
            {
                var e = new JsonObject { ["frames"] = f, ["encode_dtype"] = BenchOptions.DTypeName(o.EncodeDType), ["decode_dtype"] = BenchOptions.DTypeName(o.DecodeDType) };
                var enc = outputs.GetValueOrDefault("encode/whole") ?? outputs.GetValueOrDefault("encode/chunked");
                if (enc is not null && refLatent.TryGetValue(f, out var rl2))
                {
                    e["encode_max_abs_latent_diff"] = MaxAbs(rl2, enc);
                    e["encode_mean_abs_latent_diff"] = Round(enc.sub(rl2).abs().mean().ToDouble(), 6);
                }
                var dec = outputs.GetValueOrDefault("decode/whole") ?? outputs.GetValueOrDefault("decode/chunked");
                if (dec is not null && refRecon.TryGetValue(f, out var rr))
                {
                    e["decode_psnr_vs_fp32_db"] = Round(VideoMetrics.Psnr(rr, dec), 2);
                    e["decode_max_abs_diff"] = MaxAbs(rr, dec);
                }
                errors.Add(e);
                log.WriteLine($"bf16 error {f} frames: {e.ToJsonString()}");
            }
            }
            finally
            {
                foreach (var t in outputs.Values) t.Dispose();
            }
        }
        report["results"] = results;
        report["chunked_vs_whole"] = chunkDiffs;
        if (errors.Count > 0) report["bf16_error"] = errors;
        if (tileComparisons.Count > 0) report["tiled_vs_untiled"] = tileComparisons;
        if (profiles.Count > 0) report["profile"] = profiles;
    }

    /// <summary>
    /// Runs <paramref name="video"/> untiled (chunked encode, chunked decode, untimed) and compares the tiled outputs with
    /// it: latent difference, reconstruction PSNR, and the seam metric (mean abs error in the tile overlaps vs the rest).
    /// </summary>
    private static JsonObject CompareUntiled(WfVaeModel model, BenchOptions o, int frames, Tensor video, Tensor tiledLatent, Tensor tiledRecon, long decodeChunk, TextWriter log)
    {
        using var scope = NewDisposeScope();
        var tiling = model.Inference.Tiling;
        Tensor latent, recon;
        model.WithInference(model.Inference with { Tiling = SpatialTiling.Off });
        try
        {
            using var post = model.Encode(video, o.ChunkFrames);
            latent = post.Mean.clone();
            recon = model.Decode(latent, (int)decodeChunk);
        }
        finally
        {
            model.WithInference(model.Inference with { Tiling = tiling });
        }
        var (a, b) = (recon.clamp(-1, 1), tiledRecon.clamp(-1, 1));
        // Per-pixel error of the tiled reconstruction against the untiled one, averaged over channels and frames.
        var error = a.sub(b).abs().mean([0, 1, 2]);
        var overlap = zeros([o.H, o.W], ScalarType.Bool);
        foreach (var (dim, side) in new[] { (0, (long)o.H), (1, (long)o.W) })
        {
            var spans = tiling.Spans(side);
            for (int i = 1; i < spans.Count; i++)
            {
                long start = spans[i].Start, end = spans[i - 1].Start + spans[i - 1].Length;
                overlap.narrow(dim, start, end - start).fill_(true);
            }
        }
        double seam = error.masked_select(overlap).mean().ToDouble(), interior = error.masked_select(overlap.logical_not()).mean().ToDouble();
        var j = new JsonObject
        {
            ["frames"] = frames,
            ["tiling"] = tiling.ToString(),
            ["latent_max_abs_diff"] = MaxAbs(latent, tiledLatent),
            ["latent_mean_abs_diff"] = Round(latent.sub(tiledLatent).abs().mean().ToDouble(), 6),
            ["recon_psnr_tiled_vs_untiled_db"] = Round(VideoMetrics.Psnr(a, b), 2),
            ["seam_mean_abs_error"] = Round(seam, 6),
            ["interior_mean_abs_error"] = Round(interior, 6),
            ["seam_vs_interior"] = Round(seam / interior, 3),
        };
        if (o.VideoPath is not null)
        {
            j["untiled_psnr_vs_source_db"] = Round(VideoMetrics.Psnr(video, a), 2);
            j["tiled_psnr_vs_source_db"] = Round(VideoMetrics.Psnr(video, b), 2);
        }
        log.WriteLine($"tiled vs untiled {frames} frames: {j.ToJsonString()}");
        return j;
    }

    private sealed record CaseTiming(double[] Seconds, double[] CpuSeconds, double PeakRssMb, double RssBeforeMb);

    private static double ProcessCpuSeconds()
    {
        using var p = Process.GetCurrentProcess();
        return p.TotalProcessorTime.TotalSeconds;
    }

    private static CaseTiming TimeCase(BenchOptions o, string what, TextWriter log, Action run)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        double before = Rss.CurrentMb();
        Rss.ResetPeak();
        for (int i = 0; i < o.Warmup; i++)
        {
            long w0 = Stopwatch.GetTimestamp();
            run();
            log.WriteLine($"  {what} warm-up {i}: {Stopwatch.GetElapsedTime(w0).TotalSeconds:F2}s");
        }
        var times = new double[o.Repeat];
        var cpu = new double[o.Repeat];
        for (int i = 0; i < o.Repeat; i++)
        {
            double c0 = ProcessCpuSeconds();
            long t0 = Stopwatch.GetTimestamp();
            run();
            times[i] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            cpu[i] = ProcessCpuSeconds() - c0;
            log.WriteLine($"  {what} run {i}: {times[i]:F2}s (cpu {cpu[i]:F2}s)");
        }
        return new CaseTiming(times, cpu, Rss.PeakMb(), before);
    }

    private static JsonObject CaseJson(string phase, int frames, string mode, int? chunk, ScalarType dtype, CaseTiming r, double macs, int videoFrames, TextWriter log)
    {
        double median = Median(r.Seconds);
        var j = new JsonObject
        {
            ["phase"] = phase,
            ["frames"] = frames,
            ["mode"] = mode,
            ["chunk"] = chunk is null ? null : (JsonNode)chunk.Value,
            ["dtype"] = BenchOptions.DTypeName(dtype),
            ["runs_seconds"] = new JsonArray(r.Seconds.Select(s => (JsonNode)Round(s, 3)).ToArray()),
            ["median_seconds"] = Round(median, 3),
            ["cpu_seconds"] = new JsonArray(r.CpuSeconds.Select(s => (JsonNode)Round(s, 3)).ToArray()),
            ["median_cpu_seconds"] = Round(Median(r.CpuSeconds), 3),
            ["frames_per_second"] = Round(videoFrames / median, 3),
            ["gmac"] = Round(macs / 1e9, 1),
            ["gflop_per_second"] = Round(2 * macs / median / 1e9, 1),
            ["peak_rss_mb"] = Round(r.PeakRssMb, 0),
            ["rss_before_mb"] = Round(r.RssBeforeMb, 0),
        };
        log.WriteLine($"{phase,-6} {frames,3}f {mode,-7} {BenchOptions.DTypeName(dtype)}: median {median:F2}s  [{string.Join(" ", r.Seconds.Select(s => s.ToString("F2", CultureInfo.InvariantCulture)))}]  " +
                      $"{videoFrames / median:F2} frames/s  {2 * macs / median / 1e9:F0} GFLOP/s  cpu {Median(r.CpuSeconds):F1}s  peak RSS {r.PeakRssMb:F0} MB");
        return j;
    }

    private static JsonObject ProfileJson(WfVaeModel model, string phase, int frames, string mode, Action run)
    {
        using var probe = ModelProbe.Attach(model, countMacs: false, timeBlocks: true, trackPeakRss: true);
        long t0 = Stopwatch.GetTimestamp();
        run();
        double total = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        var blocks = new JsonArray();
        var peaks = probe.BlockPeakRssMb;
        foreach (var (label, s, calls) in probe.Blocks)
            blocks.Add(new JsonObject
            {
                ["block"] = label, ["seconds"] = Round(s, 3), ["calls"] = calls, ["share"] = Round(s / total, 4),
                ["peak_rss_mb"] = peaks.TryGetValue(label, out var mb) ? Round(mb, 0) : null,
            });
        return new JsonObject { ["phase"] = phase, ["frames"] = frames, ["mode"] = mode, ["total_seconds"] = Round(total, 3), ["blocks"] = blocks };
    }

    private static JsonArray Streaming(WfVaeModel model, BenchOptions o, TextWriter log)
    {
        var arr = new JsonArray();
        string dir = Path.Combine(Path.GetTempPath(), $"wfvae-bench-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        try
        {
            double? firstPeak = null;
            foreach (var n in o.StreamFrames)
            {
                string path = Path.Combine(dir, $"testsrc2-{n}.mp4");
                MakeTestVideo(path, n, o.W, o.H);
                GC.Collect();
                GC.WaitForPendingFinalizers();
                double before = Rss.CurrentMb();
                Rss.ResetPeak();
                long t0 = Stopwatch.GetTimestamp();
                // The streaming pipeline every caller uses: read-ahead decoding, Causal Cache chunks, EncodeChunk.
                long latentFrames, frames;
                var chunks = new StreamingProgressCounter();
                var pipeline = new VideoPipeline(model, new StreamingOptions { EncodeChunking = o.ChunkFrames, DecodeChunkLatentFrames = (int)(o.DecodeChunkLatents ?? WfVaeModel.DefaultDecodeChunkLatentFrames) });
                var source = new VideoSource { Path = path, Width = o.W, Height = o.H };
                if (o.StreamJob == "reconstruct")
                {
                    var result = pipeline.Reconstruct(source, Path.Combine(dir, $"recon-{n}.mp4"), progress: chunks);
                    frames = result.Frames;
                    latentFrames = model.ShapeRules.LatentFrames(model.ShapeRules.PaddedFrameCount(frames));
                }
                else
                {
                    using var encoded = pipeline.Encode(source, chunks);
                    latentFrames = encoded.Posterior.Mean.shape[2];
                    frames = encoded.SourceFrames;
                }
                double secs = Stopwatch.GetElapsedTime(t0).TotalSeconds, peak = Rss.PeakMb();
                firstPeak ??= peak;
                arr.Add(new JsonObject
                {
                    ["frames"] = frames,
                    ["job"] = o.StreamJob,
                    ["size"] = o.Size,
                    ["height"] = o.H,
                    ["width"] = o.W,
                    ["chunk_frames"] = o.ChunkFrames,
                    ["chunks"] = chunks.Reports,
                    ["latent_frames"] = latentFrames,
                    ["seconds"] = Round(secs, 2),
                    ["frames_per_second"] = Round(frames / secs, 3),
                    ["peak_rss_mb"] = Round(peak, 0),
                    ["rss_before_mb"] = Round(before, 0),
                    ["peak_rss_vs_first"] = Round(peak / firstPeak.Value, 3),
                });
                log.WriteLine($"stream {o.StreamJob} {frames} frames of {o.W}x{o.H} ({chunks.Reports} progress reports): {secs:F1}s, peak RSS {peak:F0} MB ({peak / firstPeak.Value:F2}x the first)");
                File.Delete(path);
            }
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
        return arr;
    }

    /// <summary>Generates an ffmpeg testsrc2 clip of <paramref name="frames"/> frames at size×size (lossless-ish x264 or mpeg4).</summary>
    private static void MakeTestVideo(string path, int frames, int width, int height)
    {
        var psi = new ProcessStartInfo("ffmpeg") { RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                     $"testsrc2=size={width}x{height}:rate=25", "-frames:v", frames.ToString(CultureInfo.InvariantCulture), "-pix_fmt", "yuv420p", path })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start ffmpeg (install it: apt-get install ffmpeg).");
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"ffmpeg failed to generate the test video ({p.ExitCode}): {err.Trim()}");
    }

    /// <summary>The input: uniform noise in [-1, 1] (seeded), or the first frames of --video scaled and centre-cropped to the size.</summary>
    private static Tensor MakeVideo(int frames, BenchOptions o)
    {
        if (o.VideoPath is { } path)
        {
            var clip = VideoReader.ReadAllRgb24(path, new VideoReadOptions { Width = o.W, Height = o.H, MaxFrames = frames });
            if (clip.Frames.Count < frames) throw new ArgumentException($"--video '{path}' has only {clip.Frames.Count} frames; --frames asks for {frames}.");
            return FrameTensors.FromRgb24(clip.Frames, o.H, o.W);
        }
        using var g = new Generator((ulong)(1234 + frames + o.Seed));
        using var u = rand([1, 3, frames, o.H, o.W], generator: g);
        return u.mul(2).sub_(1);
    }

    private static double MaxAbs(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        return a.to(ScalarType.Float32).sub(b.to(ScalarType.Float32)).abs().max().ToDouble();
    }

    private static double Median(double[] xs)
    {
        var s = xs.OrderBy(x => x).ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    private static double Round(double v, int digits) => double.IsFinite(v) ? Math.Round(v, digits) : v;

    private static JsonObject MachineInfo() => new()
    {
        ["cpu"] = CpuModel(),
        ["logical_cores"] = Environment.ProcessorCount,
        ["os"] = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
        ["dotnet"] = Environment.Version.ToString(),
        ["load_average_start"] = LoadAverage(),
    };

    private static string CpuModel()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
                if (line.StartsWith("model name", StringComparison.Ordinal)) return line.Split(':', 2)[1].Trim();
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString();
    }

    private static string LoadAverage()
    {
        try { return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (IOException) { return "n/a"; }
    }

    public static void WriteJson(JsonObject report, string path)
    {
        string? d = Path.GetDirectoryName(Path.GetFullPath(path));
        if (d is not null) Directory.CreateDirectory(d);
        File.WriteAllText(path, report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Resident-set size from /proc/self/status; the peak (VmHWM) is reset by writing 5 to /proc/self/clear_refs.</summary>
    internal static class Rss
    {
        public static double CurrentMb() => ProcessMemory.CurrentKb() / 1024.0;
        public static double PeakMb() => ProcessMemory.PeakKb() / 1024.0;
        public static bool ResetPeak() => ProcessMemory.ResetPeak();
    }
}

/// <summary>glibc allocator tuning: a fixed mmap threshold returns large freed blocks to the OS at once.</summary>
internal static class NativeAllocator
{
    private const int M_MMAP_THRESHOLD = -3;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "mallopt")]
    private static extern int Mallopt(int param, int value);

    /// <summary>
    /// Allocations of at least <paramref name="bytes"/> get their own mapping, freed straight back to the OS
    /// (glibc otherwise raises the threshold up to 32 MB and keeps freed activations in its heap, so RSS
    /// reflects fragmentation rather than live tensors). Returns false where glibc is not available.
    /// </summary>
    public static bool SetMmapThreshold(long bytes)
    {
        if (!OperatingSystem.IsLinux()) return false;
        try { return Mallopt(M_MMAP_THRESHOLD, (int)Math.Min(bytes, int.MaxValue)) == 1; }
        catch (DllNotFoundException) { return false; }
        catch (EntryPointNotFoundException) { return false; }
    }
}

/// <summary>Counts the progress reports of a streaming encode: one per chunk.</summary>
internal sealed class StreamingProgressCounter : IProgress<StreamingProgress>
{
    public int Reports { get; private set; }
    public void Report(StreamingProgress value) => Reports++;
}
