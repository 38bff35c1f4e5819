using System.Text.Json.Nodes;
using WfVae.Profiling;
using WfVae.Tests.Cli;

namespace WfVae.Tests.Bench;

/// <summary>CI smoke test of <c>wfvae bench</c> at a tiny size: the code path runs and the report has its fields (no timing asserts).</summary>
public sealed class BenchSmokeTests
{
    [Fact]
    public void Bench_runs_on_the_tiny_config_and_writes_every_documented_field()
    {
        string dir = TestPaths.NewTempDir("wfvae-bench");
        try
        {
            string json = Path.Combine(dir, "bench.json");
            var r = CliRunner.Run("bench", "--config", Path.Combine(TestPaths.TinyModelDir, "config.json"), "--frames", "9", "--size", "16",
                "--threads", "1", "--repeat", "1", "--warmup", "0", "--chunk-frames", "4", "--decode-dtype", "bf16", "--profile",
                "--stream", "5,9", "--json", json);
            Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.StdErr}\n{r.StdOut}");
            var root = JsonNode.Parse(File.ReadAllText(json))!.AsObject();
            Assert.Equal("wfvae-bench/1", (string?)root["schema"]);
            foreach (var k in new[] { "machine", "model", "settings", "work", "results", "chunked_vs_whole", "bf16_error", "profile", "streaming", "total_seconds" })
                Assert.True(root.ContainsKey(k), $"missing '{k}'");
            Assert.Equal("fp32", (string?)root["model"]!["encode_dtype"]);
            Assert.Equal("bf16", (string?)root["model"]!["decode_dtype"]);
            var work = root["work"]!.AsArray().Single()!;
            Assert.True((double)work["encode_gmac"]! >= 0 && (double)work["decode_gmac"]! >= 0);

            var results = root["results"]!.AsArray();
            Assert.Equal(4, results.Count); // encode/decode × whole/chunked
            foreach (var c in results)
            {
                foreach (var k in new[] { "phase", "frames", "mode", "chunk", "dtype", "runs_seconds", "median_seconds", "frames_per_second", "gmac", "gflop_per_second", "peak_rss_mb", "rss_before_mb" })
                    Assert.True(c!.AsObject().ContainsKey(k), $"result missing '{k}'");
                Assert.True((double)c!["median_seconds"]! > 0);
                Assert.True((double)c["peak_rss_mb"]! > 0);
            }
            // Chunked equals whole (same dtype); this is an accuracy check, not timing.
            foreach (var d in root["chunked_vs_whole"]!.AsArray())
                Assert.True((double)d!["max_abs_diff"]! <= ((string?)d["phase"] == "decode" ? 1e-2 : 1e-5), d.ToJsonString());
            var err = root["bf16_error"]!.AsArray().Single()!;
            Assert.True((double)err["encode_max_abs_latent_diff"]! <= 1e-5, "encode stays fp32, so it must match the fp32 reference");
            Assert.True((double)err["decode_psnr_vs_fp32_db"]! > 25, err.ToJsonString());
            Assert.Contains(root["profile"]!.AsArray(), p => p!["blocks"]!.AsArray().Any(b => (string?)b!["block"] == "decoder.up2"));
            Assert.Contains(root["profile"]!.AsArray(), p => p!["blocks"]!.AsArray().Any(b => (string?)b!["block"] == "attention"));
            // Per-block peak RSS (Linux): at least the weights are resident inside every block.
            Assert.All(root["profile"]!.AsArray().SelectMany(p => p!["blocks"]!.AsArray()), b => Assert.True((double?)b!["peak_rss_mb"] > 0, b!.ToJsonString()));
            var stream = root["streaming"]!.AsArray();
            Assert.Equal(2, stream.Count);
            Assert.Equal(9, (int)stream[1]!["frames"]!);
            Assert.Equal(3, (int)stream[1]!["latent_frames"]!);
            Assert.True((double)stream[1]!["peak_rss_mb"]! > 0);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Bench_decoder_only_loads_no_encoder_and_refuses_the_encode_phase()
    {
        string dir = TestPaths.NewTempDir("wfvae-bench");
        try
        {
            string json = Path.Combine(dir, "bench.json");
            string config = Path.Combine(TestPaths.TinyModelDir, "config.json");
            var r = CliRunner.Run("bench", "--config", config, "--frames", "9", "--size", "16", "--threads", "1", "--repeat", "1", "--warmup", "0",
                "--phases", "decode", "--components", "decoder", "--json", json);
            Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.StdErr}\n{r.StdOut}");
            var root = JsonNode.Parse(File.ReadAllText(json))!.AsObject();
            Assert.Equal("decoder", (string?)root["model"]!["components"]);
            Assert.Equal(0, (long)root["model"]!["encoder_parameters"]!);
            Assert.All(root["results"]!.AsArray(), c => Assert.Equal("decode", (string?)c!["phase"]));

            var bad = CliRunner.Run("bench", "--config", config, "--frames", "5", "--size", "16", "--components", "decoder");
            Assert.Equal(1, bad.ExitCode);
            Assert.Contains("cannot run the encode phase", bad.StdErr);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Mac_counter_matches_the_published_WF_VAE_L_work()
    {
        // perf-baseline.md: conv MACs of WF-VAE-L for 17×256² are 1,179 G (encode) and 5,712 G (decode).
        var config = WfVaeConfig.Load(Path.Combine(TestPaths.FixturesRoot, "wfvae-l-config.json"));
        using var model = WfVaeModel.Create(config);
        var c = MacCounter.Count(model, 17, 256, 256);
        Assert.InRange((c.EncodeMacs - c.EncodeAttentionMacs) / 1e9, 1178.5, 1179.5);
        Assert.InRange((c.DecodeMacs - c.DecodeAttentionMacs) / 1e9, 5711.5, 5712.5);
        // Attention over 5 latent frames of 32×32 tokens, width 768: 2·5·1024²·768 MACs each side.
        Assert.Equal(2.0 * 5 * 1024 * 1024 * 768, c.EncodeAttentionMacs);
        Assert.Equal(2.0 * 5 * 1024 * 1024 * 768, c.DecodeAttentionMacs);
    }

    [Fact]
    public void Bench_with_cuda_names_the_package_when_cuda_is_missing()
    {
        if (TorchSharp.torch.cuda.is_available()) return;
        var r = CliRunner.Run("bench", "--config", Path.Combine(TestPaths.TinyModelDir, "config.json"), "--device", "cuda", "--frames", "5", "--size", "16");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("TorchSharp-cuda-linux", r.StdErr);
    }

    [Fact]
    public void Tiled_bench_compares_with_untiled_and_streams_a_tiled_reconstruct()
    {
        string dir = TestPaths.NewTempDir("wfvae-bench-tiled");
        try
        {
            string json = Path.Combine(dir, "bench.json");
            var r = CliRunner.Run("bench", "--config", Path.Combine(TestPaths.TinyModelDir, "config.json"), "--frames", "5", "--height", "24", "--width", "40",
                "--tile", "16", "--tile-overlap", "8", "--tile-compare", "--threads", "1", "--repeat", "1", "--warmup", "0", "--chunk-frames", "4",
                "--modes", "chunked", "--stream", "5", "--stream-job", "reconstruct", "--json", json);
            Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.StdErr}\n{r.StdOut}");
            var root = JsonNode.Parse(File.ReadAllText(json))!.AsObject();
            Assert.Equal(8, (int)root["settings"]!["tiles"]!); // 24 rows: 2 tiles of 16 (8 overlap); 40 columns: 4
            Assert.Equal(40, (int)root["settings"]!["width"]!);
            var cmp = root["tiled_vs_untiled"]!.AsArray().Single()!;
            foreach (var k in new[] { "latent_max_abs_diff", "recon_psnr_tiled_vs_untiled_db", "seam_mean_abs_error", "interior_mean_abs_error", "seam_vs_interior" })
                Assert.True(cmp.AsObject().ContainsKey(k), $"tiled_vs_untiled missing '{k}'");
            Assert.True((double)cmp["recon_psnr_tiled_vs_untiled_db"]! > 0 && (double)cmp["latent_max_abs_diff"]! > 0, cmp.ToJsonString());
            var stream = root["streaming"]!.AsArray().Single()!;
            Assert.Equal("reconstruct", (string?)stream["job"]);
            Assert.Equal(5, (int)stream["frames"]!);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
