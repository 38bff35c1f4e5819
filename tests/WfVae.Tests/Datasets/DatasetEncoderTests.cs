using System.Collections;
using WfVae.Datasets;
using WfVae.Pipeline;
using WfVae.Tests.MLNet;
using static TorchSharp.torch;

namespace WfVae.Tests.Datasets;

/// <summary>
/// <c>DatasetEncoder</c>: exactly-once shards whatever the number of processes, restart after damage, failed clips as
/// rows, refused setting changes, cancellation that leaves nothing half-written.
/// </summary>
public sealed class DatasetEncoderTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("wfvae-dataset");
    private readonly string _manifest;

    private static readonly DatasetSettings Settings = new()
    {
        Frames = 5, Width = 32, Height = 32, ClipsPerVideo = 2, ClipStride = 4, ClipsPerShard = 3, PathColumn = "video",
    };

    public DatasetEncoderTests()
    {
        // Rows: 17 frames (2 clips), 9 frames (2 clips: 0-4 and 4-8), a text file (2 failed clips), 10 frames.
        _manifest = Path.Combine(_dir, "videos.csv");
        File.WriteAllLines(_manifest,
        [
            "video,caption,label",
            $"\"{MLNetTestData.Testsrc}\",\"a test pattern, in colour\",1",
            $"\"{MLNetTestData.Box}\",a red box,0",
            $"\"{MLNetTestData.NotAVideo}\",not a video,0",
            $"\"{MLNetTestData.TenFrames}\",,1",
        ]);
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private DatasetEncodeResult Encode(string output, int index = 0, int count = 1, DatasetSettings? settings = null, CancellationToken ct = default) =>
        new DatasetEncoder(MLNetTestData.TinyModel).Run(
            new DatasetEncodeOptions { Manifest = _manifest, OutputDirectory = output, Settings = settings ?? Settings, ShardIndex = index, ShardCount = count }, ct: ct);

    private static Dictionary<string, byte[]> Files(string dir) =>
        Directory.GetFiles(dir, "*", SearchOption.AllDirectories).ToDictionary(f => Path.GetRelativePath(dir, f), File.ReadAllBytes);

    private static void AssertSameFiles(string expectedDir, string actualDir)
    {
        var expected = Files(expectedDir);
        var actual = Files(actualDir);
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, bytes) in expected)
            Assert.True(bytes.AsSpan().SequenceEqual(actual[name]), $"{name} differs");
    }

    [Fact]
    public void Outputs_are_byte_identical_whatever_the_number_of_processes()
    {
        string one = Path.Combine(_dir, "one"), three = Path.Combine(_dir, "three");
        var r = Encode(one);
        Assert.Equal((3, 0, 3, true), (r.ShardsOwned, r.ShardsSkipped, r.ShardsWritten, r.ManifestWritten));
        Assert.Equal((6L, 2L), (r.ClipsOk, r.ClipsFailed));
        var first = Encode(three, 0, 3);
        Assert.Equal((1, false), (first.ShardsOwned, first.ManifestWritten)); // shard 0 only; others not committed yet
        Assert.False(File.Exists(Path.Combine(three, "manifest.parquet")));
        Encode(three, 2, 3);
        var last = Encode(three, 1, 3);
        Assert.True(last.ManifestWritten);
        AssertSameFiles(one, three);
    }

    [Fact]
    public void Manifest_rows_record_every_clip_once_with_failures_and_carried_columns()
    {
        string output = Path.Combine(_dir, "rows");
        Encode(output);
        var (records, carried) = ClipManifestFile.Read(Path.Combine(output, "manifest.parquet"));
        Assert.Equal(["caption", "label"], carried);
        Assert.Equal(["00000000_0000", "00000000_0001", "00000001_0000", "00000001_0001", "00000002_0000", "00000002_0001", "00000003_0000", "00000003_0001"],
            records.Select(r => r.ClipId));
        Assert.Equal(records.Count, records.Select(r => r.ClipId).Distinct().Count());
        Assert.Equal("a test pattern, in colour", records[0].Carried["caption"]);
        Assert.Null(records[6].Carried["caption"]);
        Assert.Equal([0, 4, 0, 4], records.Take(4).Select(r => r.StartFrame));

        var bad = records.Where(r => r.SourcePath == MLNetTestData.NotAVideo).ToList();
        Assert.Equal(2, bad.Count);
        Assert.All(bad, r => { Assert.Equal(ClipRecord.Failed, r.Status); Assert.Null(r.ShardKey); Assert.Null(r.LatentShape); Assert.False(string.IsNullOrEmpty(r.Error)); });
        // 9-frame box: clip 1 starts at frame 4 and has frames 4..8 = 5 frames, ok; 10 frames: clips at 0 and 4 both ok.
        Assert.Equal(ClipRecord.Ok, records[3].Status);
        var ok = records.Where(r => r.Status == ClipRecord.Ok).ToList();
        Assert.Equal(6, ok.Count);
        Assert.All(ok, r =>
        {
            Assert.Equal([16, 2, 4, 4], r.LatentShape!);
            Assert.Equal((32, 32, 5, 1), (r.Width!.Value, r.Height!.Value, r.FrameCount, r.FrameStep));
            Assert.Equal("fp32", r.LatentDType);
        });
        Assert.Equal((48, 40, 38, 32, 3, 0), (records[0].SourceWidth!.Value, records[0].SourceHeight!.Value, records[0].ResizedWidth!.Value, records[0].ResizedHeight!.Value, records[0].CropX!.Value, records[0].CropY!.Value));
    }

    [Fact]
    public void Too_short_clips_are_failed_rows_not_zeros()
    {
        string output = Path.Combine(_dir, "short");
        Encode(output, settings: Settings with { Frames = 9, ClipStride = 8 });
        var (records, _) = ClipManifestFile.Read(Path.Combine(output, "manifest.parquet"));
        var box1 = records.Single(r => r.ClipId == "00000001_0001"); // 9 frames; clip 1 would need frames 8..16
        Assert.Equal(ClipRecord.Failed, box1.Status);
        Assert.Contains("frame", box1.Error);
        using var shard = new SafetensorsReader(Path.Combine(output, box1.ShardFile));
        Assert.False(shard.Entries.ContainsKey(box1.ClipId));
    }

    [Fact]
    public void Latents_equal_the_streaming_pipeline_on_the_same_clip()
    {
        string output = Path.Combine(_dir, "values");
        Encode(output);
        var (records, _) = ClipManifestFile.Read(Path.Combine(output, "manifest.parquet"));
        var clip = records.Single(r => r.ClipId == "00000000_0001");
        using var shard = new SafetensorsReader(Path.Combine(output, clip.ShardFile));
        using var stored = shard.Read(clip.ShardKey!);
        using var expected = new VideoPipeline(MLNetTestData.TinyModel).Encode(new VideoSource
        {
            Path = MLNetTestData.Testsrc, Width = 32, Height = 32, StartFrame = 4, MaxFrames = 5, ExactFrameCount = true, Policy = ShapePolicy.Strict,
        });
        Assert.Equal(0.0, (stored - expected.Posterior.Mean.squeeze(0)).abs().max().item<float>());
        // Frame-exact start: the clip's frames are source frames 4..8.
        using var all = MLNetTestData.ReadVideo(MLNetTestData.Testsrc, 32, 32);
        using var direct = MLNetTestData.TinyModel.Encode(all.narrow(2, 4, 5));
        Assert.True((stored - direct.Mean.squeeze(0)).abs().max().item<float>() < 1e-5);
    }

    [Fact]
    public void Restart_skips_verified_shards_and_redoes_damaged_or_uncommitted_ones()
    {
        string reference = Path.Combine(_dir, "reference"), output = Path.Combine(_dir, "damaged");
        Encode(reference);
        Encode(output);
        var tensors = Path.Combine(output, "shards", "shard-000001.safetensors");
        var bytes = File.ReadAllBytes(tensors);
        bytes[^1] ^= 0x40;
        File.WriteAllBytes(tensors, bytes);
        File.Delete(Path.Combine(output, "shards", "shard-000002.commit.json"));
        File.Delete(Path.Combine(output, "manifest.parquet"));
        var log = new List<string>();
        var r = new DatasetEncoder(MLNetTestData.TinyModel).Run(new DatasetEncodeOptions { Manifest = _manifest, OutputDirectory = output, Settings = Settings }, log: log.Add);
        Assert.Equal((1, 2), (r.ShardsSkipped, r.ShardsWritten));
        Assert.Contains(log, l => l.Contains("shard 1") && l.Contains("checksum"));
        AssertSameFiles(reference, output);
    }

    [Fact]
    public void Restart_removes_temporary_files_a_killed_writer_left_for_an_uncommitted_shard()
    {
        string reference = Path.Combine(_dir, "reference"), output = Path.Combine(_dir, "killed");
        Encode(reference);
        Encode(output);
        // A process killed while committing shard 2: its tensors' and marker's temporaries are left, the marker never landed.
        string shards = Path.Combine(output, "shards");
        File.Delete(Path.Combine(shards, "shard-000002.commit.json"));
        File.Delete(Path.Combine(output, "manifest.parquet"));
        File.WriteAllText(Path.Combine(shards, ".shard-000002.safetensors.0a1b-4242-0badf0.tmp"), "half a shard");
        File.WriteAllText(Path.Combine(shards, ".shard-000002.commit.json.0a1b-4242-123456.tmp"), "{");
        var log = new List<string>();
        var r = new DatasetEncoder(MLNetTestData.TinyModel).Run(new DatasetEncodeOptions { Manifest = _manifest, OutputDirectory = output, Settings = Settings }, log: log.Add);
        Assert.Equal((2, 1), (r.ShardsSkipped, r.ShardsWritten));
        Assert.Contains("shard 2: removed 2 temporary file(s) left by an interrupted writer.", log);
        AssertSameFiles(reference, output);
    }

    [Fact]
    public void Other_settings_into_the_same_folder_are_refused_naming_them()
    {
        string output = Path.Combine(_dir, "settings");
        Encode(output);
        var before = Files(output);
        var e = Assert.Throws<InvalidOperationException>(() => Encode(output, settings: Settings with { Width = 24, LatentDType = ScalarType.BFloat16 }));
        Assert.Contains("preprocessing.width was 32, now 24", e.Message);
        Assert.Contains("preprocessing.latent_dtype", e.Message);
        File.AppendAllText(_manifest, $"\"{MLNetTestData.Mandelbrot}\",more,0\n");
        var m = Assert.Throws<InvalidOperationException>(() => Encode(output));
        Assert.Contains("manifest.sha256", m.Message);
        Assert.Equal(before.Keys.Order(), Files(output).Keys.Order());
    }

    [Fact]
    public void Cancelling_leaves_committed_shards_and_no_temporary_files()
    {
        string reference = Path.Combine(_dir, "whole"), output = Path.Combine(_dir, "cancelled");
        Encode(reference);
        using var cts = new CancellationTokenSource();
        var progress = new SyncProgress<DatasetProgress>(p => { if (p.ShardsDone == 1) cts.Cancel(); });
        Assert.ThrowsAny<OperationCanceledException>(() => new DatasetEncoder(MLNetTestData.TinyModel).Run(
            new DatasetEncodeOptions { Manifest = _manifest, OutputDirectory = output, Settings = Settings }, progress, ct: cts.Token));
        var left = Directory.GetFiles(output, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(output, f)).Order().ToList();
        Assert.Equal(["dataset.json", Path.Combine("shards", "shard-000000.commit.json"), Path.Combine("shards", "shard-000000.parquet"), Path.Combine("shards", "shard-000000.safetensors")], left);
        var r = Encode(output);
        Assert.Equal((1, 2), (r.ShardsSkipped, r.ShardsWritten));
        AssertSameFiles(reference, output);
    }

    [Fact]
    public void Storage_dtype_is_applied()
    {
        string output = Path.Combine(_dir, "bf16");
        Encode(output, settings: Settings with { LatentDType = ScalarType.BFloat16 });
        using var shard = new SafetensorsReader(Path.Combine(output, "shards", "shard-000000.safetensors"));
        Assert.Equal("BF16", shard.Entries["00000000_0000"].DType);
    }

    [Fact]
    public void Invalid_settings_name_what_is_valid()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Encode(Path.Combine(_dir, "bad"), settings: Settings with { Frames = 6 }));
        Assert.Contains("1 + 4k", e.Message);
        Assert.Contains("nearest valid: 5 or 9", e.Message);
        Assert.False(Directory.Exists(Path.Combine(_dir, "bad")));
        var c = Assert.Throws<ArgumentException>(() => DatasetManifest.Load(_manifest, "path"));
        Assert.Contains("no column 'path'", c.Message);
        Assert.Contains("'video'", c.Message);
    }

    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}

/// <summary>Static sharding: options first, then the variables of Kubernetes Indexed Jobs, Slurm arrays and torchrun.</summary>
public sealed class StaticShardTests
{
    private static (int, int) Shard(int? index, int? count, params (string Key, string Value)[] env)
    {
        var vars = new Hashtable();
        foreach (var (k, v) in env) vars[k] = v;
        var (i, c, _) = StaticSharding.Resolve(index, count, vars);
        return (i, c);
    }

    [Fact]
    public void Sources_of_the_shard_index()
    {
        Assert.Equal((0, 1), Shard(null, null));
        Assert.Equal((2, 5), Shard(2, 5, ("RANK", "1"), ("WORLD_SIZE", "3")));
        Assert.Equal((3, 4), Shard(null, 4, ("JOB_COMPLETION_INDEX", "3")));
        Assert.Equal((1, 3), Shard(null, null, ("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_MIN", "1"), ("SLURM_ARRAY_TASK_COUNT", "3")));
        Assert.Equal((1, 3), Shard(null, null, ("RANK", "1"), ("WORLD_SIZE", "3")));
        Assert.Contains("shard count is unknown", Assert.Throws<ArgumentException>(() => Shard(null, null, ("JOB_COMPLETION_INDEX", "0"))).Message);
        Assert.Contains("not in [0, 2]", Assert.Throws<ArgumentException>(() => Shard(3, 3)).Message);
    }
}
