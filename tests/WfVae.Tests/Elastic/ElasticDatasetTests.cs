using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Hangfire.Storage;
using WfVae.Datasets;
using WfVae.Datasets.Hangfire;
using WfVae.Tests.Cli;
using WfVae.Tests.MLNet;
using Xunit.Abstractions;

namespace WfVae.Tests.Elastic;

/// <summary>
/// Elastic mode end to end with real parts: a PostgreSQL cluster, Hangfire workers as separate <c>wfvae dataset
/// worker</c> processes, one of them SIGKILLed mid-shard; the dataset must equal a single-process run byte for byte.
/// </summary>
public sealed class ElasticDatasetTests : IClassFixture<PostgresCluster>, IDisposable
{
    // Short leases and polls so that a dead worker's shard comes back within seconds.
    private static readonly string[] Timings = ["--invisibility-timeout", "4", "--poll-interval", "0.5"];
    // Four single-threaded processes share the machine: OpenMP threads that spin while waiting would starve each other.
    private static readonly Dictionary<string, string> Passive = new() { ["OMP_WAIT_POLICY"] = "PASSIVE" };

    private readonly PostgresCluster _pg;
    private readonly ITestOutputHelper _output;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly ConcurrentQueue<string> _log = new();
    private readonly string _dir = TestPaths.NewTempDir("wfvae-elastic");
    private readonly string _manifest;
    private readonly List<Process> _workers = [];

    public ElasticDatasetTests(PostgresCluster pg, ITestOutputHelper output)
    {
        _pg = pg;
        _output = output;
        // 3 rows x 2 clips of 5 frames at 32x32 = 6 clips, 2 per shard = 3 shards; every clip encodes.
        _manifest = Path.Combine(_dir, "videos.csv");
        File.WriteAllLines(_manifest,
        [
            "video,caption",
            $"\"{MLNetTestData.Testsrc}\",first",
            $"\"{MLNetTestData.Box}\",box",
            $"\"{MLNetTestData.TenFrames}\",ten",
        ]);
    }

    public void Dispose()
    {
        foreach (var line in _log) _output.WriteLine(line);
        foreach (var w in _workers)
        {
            try { if (!w.HasExited) { w.Kill(entireProcessTree: true); w.WaitForExit(10_000); } } catch (InvalidOperationException) { }
            w.Dispose();
        }
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string[] EncodeArgs(string output) =>
    [
        "--manifest", _manifest, "--out", output, "--model", TestPaths.TinyModelDir, "--frames", "5", "--width", "32", "--height", "32",
        "--clips-per-video", "2", "--clip-stride", "4", "--clips-per-shard", "2", "--path-column", "video",
    ];

    private static void Enqueue(string queue, string output, string[] args, int attempts)
    {
        var r = CliRunner.Run(["dataset", "enqueue", .. args, "--queue", queue, .. Timings, "--attempts", attempts.ToString(CultureInfo.InvariantCulture), "--retry-delay", "1"]);
        Assert.True(r.ExitCode == 0, $"enqueue failed: {r.StdErr}");
        Assert.Contains("enqueued 3 shard job(s)", r.StdOut);
    }

    /// <summary>Starts a worker process with one torch thread, as the reference run (the float summation order depends on it); each stderr line goes to <paramref name="onLine"/> on the reader thread as it arrives.</summary>
    private Process StartWorker(string queue, string name, Action<Process, string> onLine, ConcurrentQueue<string> log)
    {
        var p = CliRunner.Start(Passive, ["dataset", "worker", "--queue", queue, .. Timings, "--threads", "1", "--name", name]);
        _workers.Add(p);
        p.ErrorDataReceived += (_, e) => { if (e.Data is { } line) { log.Enqueue($"{name}: {line}"); _log.Enqueue($"{_clock.Elapsed.TotalSeconds,7:F2} s {name}: {line}"); onLine(p, line); } };
        p.OutputDataReceived += (_, e) => { if (e.Data is { } line) log.Enqueue($"{name} (stdout): {line}"); };
        p.BeginErrorReadLine();
        p.BeginOutputReadLine();
        return p;
    }

    private static DatasetQueueStatus WaitFor(string queue, Func<DatasetQueueStatus, bool> done, TimeSpan limit, ConcurrentQueue<string> log)
    {
        var options = new DatasetQueueOptions { ConnectionString = queue };
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var s = DatasetQueue.Status(options);
            if (done(s)) return s;
            if (clock.Elapsed > limit)
                throw new TimeoutException($"the queue did not get there in {limit.TotalSeconds} s: {s.Done} done, {s.Running} running, {s.Failed} failed, {s.Enqueued} enqueued, {s.Retrying} retrying; worker output:\n{string.Join('\n', log)}");
            Thread.Sleep(300);
        }
    }

    private static Dictionary<string, byte[]> Files(string dir) =>
        Directory.GetFiles(dir, "*", SearchOption.AllDirectories).ToDictionary(f => Path.GetRelativePath(dir, f), File.ReadAllBytes);

    [Fact]
    public void Three_workers_one_killed_mid_shard_give_every_clip_once_byte_identical_to_one_process()
    {
        string reference = Path.Combine(_dir, "reference"), output = Path.Combine(_dir, "elastic");
        // The reference: one process, DatasetEncoder.Run over every shard (wfvae dataset encode), one torch thread like the workers.
        var single = CliRunner.Run(["dataset", "encode", .. EncodeArgs(reference), "--threads", "1"]);
        Assert.True(single.ExitCode == 0, single.StdErr);
        Assert.Contains("6 clips ok, 0 failed; 3 shard(s) written", single.StdOut);
        Assert.Contains("manifest.parquet written", single.StdOut);

        string queue = _pg.CreateDatabase();
        Enqueue(queue, output, EncodeArgs(output), attempts: 3);

        // The victim is the first worker to announce a shard's start of encoding (0 of 2 clips): SIGKILL it right there.
        var log = new ConcurrentQueue<string>();
        int killed = 0, killedShard = -1;
        bool committedWhenKilled = true;
        var started = new Regex(@"^shard (\d+): 0/2 clips$");
        void OnLine(Process p, string line)
        {
            var m = started.Match(line);
            if (!m.Success || Interlocked.CompareExchange(ref killed, 1, 0) != 0) return;
            p.Kill(entireProcessTree: true); // SIGKILL: no shutdown, no requeue; only the lease timeout brings the shard back
            killedShard = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            committedWhenKilled = File.Exists(Path.Combine(output, "shards", $"shard-{killedShard:D6}.commit.json"));
        }
        for (int i = 0; i < 3; i++) StartWorker(queue, $"w{i}", OnLine, log);

        var status = WaitFor(queue, s => s.Done == 3 && s.Running == 0 && s.Enqueued == 0, TimeSpan.FromMinutes(4), log);
        Assert.True(killed == 1, $"no worker was killed; output:\n{string.Join('\n', log)}");
        Assert.False(committedWhenKilled, $"shard {killedShard} was already committed when its worker was killed, so the kill was not mid-shard");
        Assert.Equal((0L, 0L), (status.Failed, status.Retrying));
        Assert.Single(status.Datasets);
        Assert.Equal((3, 3, true), (status.Datasets[0].ShardsCommitted, status.Datasets[0].ShardCount, status.Datasets[0].ManifestWritten));

        // Hangfire re-ran the killed shard's job on another server after the lease ran out.
        var storage = new DatasetQueueOptions { ConnectionString = queue }.CreateStorage();
        var api = storage.GetMonitoringApi();
        var jobs = api.SucceededJobs(0, 100).Select(j => (Id: j.Key, Job: (DatasetShardJob)j.Value.Job.Args[0])).ToList();
        Assert.Equal([0, 1, 2], jobs.Select(j => j.Job.Shard).Order());
        var history = api.JobDetails(jobs.Single(j => j.Job.Shard == killedShard).Id).History;
        var servers = history.Where(h => h.StateName == "Processing").Select(h => h.Data["ServerId"]).ToList();
        Assert.True(servers.Count >= 2 && servers.Distinct().Count() >= 2, $"the killed shard ran on: {string.Join(", ", servers)}");

        // Every clip exactly once, and the same bytes in every file as the single process wrote.
        var (records, _) = ClipManifestFile.Read(Path.Combine(output, "manifest.parquet"));
        Assert.Equal(6, records.Count);
        Assert.Equal(records.Count, records.Select(r => r.ClipId).Distinct().Count());
        Assert.All(records, r => Assert.Equal(ClipRecord.Ok, r.Status));
        var expected = Files(reference);
        var actual = Files(output);
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, bytes) in expected)
            Assert.True(bytes.AsSpan().SequenceEqual(actual[name]), $"{name} differs from the single-process run");
    }

    [Fact]
    public void Sigterm_stops_a_worker_after_its_clip_and_hands_the_shard_back_at_once()
    {
        string output = Path.Combine(_dir, "stopped");
        string queue = _pg.CreateDatabase();
        Enqueue(queue, output, EncodeArgs(output), attempts: 1);
        var log = new ConcurrentQueue<string>();
        int signalled = 0;
        string? shard = null;
        var worker = StartWorker(queue, "w", (p, line) =>
        {
            // At the shard's start, before its first clip: on a fast machine a 2-clip shard can commit before a later signal lands.
            var m = Regex.Match(line, @"^(shard \d+): started ");
            if (!m.Success || Interlocked.Exchange(ref signalled, 1) != 0) return;
            shard = m.Groups[1].Value;
            Posix.Send(p.Id, "TERM");
        }, log);
        Assert.True(worker.WaitForExit(TimeSpan.FromMinutes(2)), $"the worker did not stop; output:\n{string.Join('\n', log)}");
        worker.WaitForExit(); // drains the redirected output
        Assert.Equal(0, worker.ExitCode);
        Assert.Contains($"w: {shard}: stopped; it goes back to the queue", log);
        // Back in the queue now (fetchable, not held until the invisibility timeout); not a failure; nothing half-written.
        // Hangfire leaves the job's state at Processing until a worker takes it again.
        var status = DatasetQueue.Status(new DatasetQueueOptions { ConnectionString = queue });
        Assert.Equal((0L, 0L, 0L), (status.Done, status.Failed, status.Retrying));
        var api = new DatasetQueueOptions { ConnectionString = queue }.CreateStorage().GetMonitoringApi();
        Assert.Equal((3L, 0L), (api.EnqueuedCount(DatasetQueueOptions.QueueName), api.FetchedCount(DatasetQueueOptions.QueueName)));
        Assert.Equal(["dataset.json"], Directory.GetFiles(output, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(output, f)));
    }

    [Fact]
    public void A_shard_whose_job_throws_is_parked_after_its_attempts_and_status_reports_it()
    {
        string output = Path.Combine(_dir, "parked");
        // A folder where shard 1's tensor file must go: that shard's job throws (not a failed clip row); the others commit.
        Directory.CreateDirectory(Path.Combine(output, "shards", "shard-000001.safetensors"));
        string queue = _pg.CreateDatabase();
        Enqueue(queue, output, EncodeArgs(output), attempts: 2);
        var log = new ConcurrentQueue<string>();
        StartWorker(queue, "w", (_, _) => { }, log);

        var status = WaitFor(queue, s => s.Failed == 1 && s.Done == 2 && s.Running == 0 && s.Enqueued == 0 && s.Retrying == 0, TimeSpan.FromMinutes(3), log);
        var failed = Assert.Single(status.FailedShards);
        Assert.Equal((1, 2), (failed.Job!.Shard, failed.Attempts));
        Assert.Contains("shard-000001.safetensors' is a folder", failed.Error);
        Assert.Equal(2, log.Count(l => l == "w: shard 1: started (" + failed.Job + ")"));
        Assert.Equal((2, 3, false), (status.Datasets[0].ShardsCommitted, status.Datasets[0].ShardCount, status.Datasets[0].ManifestWritten));
        Assert.False(File.Exists(Path.Combine(output, "manifest.parquet")));

        var r = CliRunner.Run(["dataset", "status", "--queue", queue, .. Timings]);
        Assert.True(r.ExitCode == 0, r.StdErr);
        Assert.Contains("2 done, 0 running, 1 failed, 0 enqueued, 0 waiting to retry", r.StdOut);
        Assert.Contains($"dataset {Path.GetFullPath(output)}: 2/3 shards committed; manifest.parquet pending", r.StdOut);
        Assert.Matches(@"failed: shard 1 of 3 -> .*parked \(job \d+, 2 attempt\(s\), [^)]*\): IOException: '.*shard-000001\.safetensors' is a folder", r.StdOut);
    }
}
