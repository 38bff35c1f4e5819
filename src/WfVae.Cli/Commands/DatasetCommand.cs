using System.CommandLine;
using System.Globalization;
using WfVae.Datasets;
using WfVae.Datasets.Hangfire;

namespace WfVae.Cli.Commands;

/// <summary>
/// <c>wfvae dataset encode</c>: a manifest of videos → a sharded, resumable latent dataset; <c>enqueue</c> /
/// <c>worker</c> / <c>status</c>: the same job as one Hangfire job per shard on a PostgreSQL queue (elastic mode).
/// </summary>
internal static class DatasetCommand
{
    public static Command Create() => new("dataset", "Encode video datasets into WF-VAE latent datasets.")
    {
        CreateEncode(), CreateEnqueue(), CreateWorker(), CreateStatus(),
    };

    /// <summary>The options that say what a dataset job is (shared by encode and enqueue).</summary>
    private sealed class JobOptions
    {
        public readonly Option<string> Manifest = new("--manifest") { Description = "A folder of videos, or a .csv / .parquet file with a path column plus any columns to carry through.", Required = true };
        public readonly Option<string> Output = new("--out", "-o") { Description = "The latent dataset's folder (dataset.json, shards/, manifest.parquet).", Required = true };
        public readonly Option<string?> Model = CliSupport.ModelOption();
        public readonly Option<int> Frames = new("--frames") { Description = "Frames per clip (1 + 4k).", DefaultValueFactory = _ => 33 };
        public readonly Option<int> FrameStep = new("--frame-step") { Description = "Take every n-th source frame.", DefaultValueFactory = _ => 1 };
        public readonly Option<int?> Size = new("--size") { Description = "Cover-scale and centre-crop to SIZE×SIZE (a multiple of 8)." };
        public readonly Option<int?> Width = new("--width") { Description = "Frame width (with --height; a multiple of 8)." };
        public readonly Option<int?> Height = new("--height") { Description = "Frame height (with --width; a multiple of 8)." };
        public readonly Option<int> ClipsPerVideo = new("--clips-per-video") { Description = "Clips taken from each video.", DefaultValueFactory = _ => 1 };
        public readonly Option<int?> ClipStride = new("--clip-stride") { Description = "Source frames between clip starts (default: clips back to back)." };
        public readonly Option<int> ClipsPerShard = new("--clips-per-shard") { Description = "Clips per shard file.", DefaultValueFactory = _ => 256 };
        public readonly Option<string> DType = new("--dtype") { Description = "Latent storage: fp32, bf16 or fp16.", DefaultValueFactory = _ => "fp32" };
        public readonly Option<string> PathColumn = new("--path-column") { Description = "The manifest column with video paths.", DefaultValueFactory = _ => "path" };

        public IEnumerable<Option> All => [Manifest, Output, Model, Frames, FrameStep, Size, Width, Height, ClipsPerVideo, ClipStride, ClipsPerShard, DType, PathColumn];

        public DatasetEncodeOptions Read(ParseResult r)
        {
            if (r.GetValue(Size) is int s && (r.GetValue(Width) is not null || r.GetValue(Height) is not null))
                throw new ArgumentException($"give --size or --width/--height, not both (got --size {s}).");
            if ((r.GetValue(Width) is null) != (r.GetValue(Height) is null))
                throw new ArgumentException("--width and --height go together.");
            var settings = new DatasetSettings
            {
                Frames = r.GetValue(Frames),
                FrameStep = r.GetValue(FrameStep),
                Width = r.GetValue(Size) ?? r.GetValue(Width),
                Height = r.GetValue(Size) ?? r.GetValue(Height),
                ClipsPerVideo = r.GetValue(ClipsPerVideo),
                ClipStride = r.GetValue(ClipStride),
                ClipsPerShard = r.GetValue(ClipsPerShard),
                LatentDType = DatasetSettings.ParseDType(r.GetValue(DType)!),
                PathColumn = r.GetValue(PathColumn)!,
            };
            return new DatasetEncodeOptions { Manifest = r.GetValue(Manifest)!, OutputDirectory = r.GetValue(Output)!, Settings = settings };
        }
    }

    /// <summary>The options that say where the queue is and how its leases behave (enqueue, worker, status).</summary>
    private sealed class QueueOptions
    {
        public readonly Option<string> Queue = new("--queue") { Description = "PostgreSQL connection string of the Hangfire queue, e.g. \"Host=db;Database=wfvae;Username=wfvae;Password=...\".", Required = true };
        public readonly Option<double> InvisibilitySeconds = new("--invisibility-timeout") { Description = "Seconds after which a dead worker's shard is picked up again (live workers renew their lease).", DefaultValueFactory = _ => 300 };
        public readonly Option<double> PollSeconds = new("--poll-interval") { Description = "Seconds between an idle worker's looks at the queue.", DefaultValueFactory = _ => 5 };

        public IEnumerable<Option> All => [Queue, InvisibilitySeconds, PollSeconds];

        public DatasetQueueOptions Read(ParseResult r)
        {
            var o = new DatasetQueueOptions
            {
                ConnectionString = r.GetValue(Queue)!,
                InvisibilityTimeout = Seconds(r.GetValue(InvisibilitySeconds), "--invisibility-timeout"),
                PollInterval = Seconds(r.GetValue(PollSeconds), "--poll-interval"),
            };
            try { o.Validate(); }
            catch (ArgumentOutOfRangeException e) when (e.ParamName == nameof(DatasetQueueOptions.InvisibilityTimeout)) { throw new ArgumentException($"--invisibility-timeout must be at least 1 second, got {r.GetValue(InvisibilitySeconds)}."); }
            catch (ArgumentOutOfRangeException e) when (e.ParamName == nameof(DatasetQueueOptions.PollInterval)) { throw new ArgumentException($"--poll-interval must be between 0.1 s and --invisibility-timeout ({r.GetValue(InvisibilitySeconds)} s), got {r.GetValue(PollSeconds)}."); }
            return o;
        }

        private static TimeSpan Seconds(double s, string name) =>
            double.IsFinite(s) && s >= 0 && s < 1e7 ? TimeSpan.FromSeconds(s) : throw new ArgumentException($"{name} must be a number of seconds, got {s}.");
    }

    private static Command CreateEncode()
    {
        var job = new JobOptions();
        var device = CliSupport.DeviceOption();
        var shardIndex = new Option<int?>("--shard-index") { Description = "This process's index among --shard-count (default: JOB_COMPLETION_INDEX, SLURM_ARRAY_TASK_ID or RANK, else 0)." };
        var shardCount = new Option<int?>("--shard-count") { Description = "Processes sharing the job (default: SLURM_ARRAY_TASK_COUNT or WORLD_SIZE, else 1)." };
        var threads = CliSupport.ThreadsOption();
        var quiet = CliSupport.QuietOption();
        var cmd = new Command("encode", "Encode every clip of a manifest into latent shards with a Parquet manifest; resumable, exactly once, shardable across machines.");
        foreach (var o in job.All.Concat([device, shardIndex, shardCount, threads, quiet])) cmd.Options.Add(o);
        cmd.SetAction(r => CliSupport.Run(ct =>
        {
            CliSupport.ApplyThreads(r.GetValue(threads));
            var read = job.Read(r);
            CliSupport.RemoveStaleTemporaries(read.OutputDirectory);
            CliSupport.RemoveStaleTemporaries(Path.Combine(read.OutputDirectory, "shards"));
            var (index, count, from) = StaticSharding.Resolve(r.GetValue(shardIndex), r.GetValue(shardCount), Environment.GetEnvironmentVariables());
            using var m = CliSupport.LoadModel(r.GetValue(job.Model), r.GetValue(device)!, WfVaeComponents.Encoder);
            var options = read with { ShardIndex = index, ShardCount = count };
            if (count > 1) Console.Error.WriteLine($"shard {index} of {count} ({from})");
            using var progress = ProgressLine.Clips(CliSupport.ProgressWriter(r.GetValue(quiet)));
            var result = new DatasetEncoder(m).Run(options, progress, line => Console.Error.WriteLine(line), ct);
            progress.Finish();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{result.ClipsOk} clips ok, {result.ClipsFailed} failed; {result.ShardsWritten} shard(s) written, {result.ShardsSkipped} already committed, of {result.ShardsOwned} owned; {result.Elapsed.TotalSeconds:F1} s -> {Path.GetFullPath(options.OutputDirectory)}"));
            Console.WriteLine(result.ManifestWritten ? "every shard is committed: manifest.parquet written" : "manifest.parquet is written once every shard is committed");
            return 0;
        }));
        return cmd;
    }

    private static Command CreateEnqueue()
    {
        var job = new JobOptions();
        var queue = new QueueOptions();
        var attempts = new Option<int>("--attempts") { Description = "Runs of a shard before it is parked as failed (Hangfire retries).", DefaultValueFactory = _ => 3 };
        var retryDelay = new Option<double>("--retry-delay") { Description = "Seconds between a failed run of a shard and the next.", DefaultValueFactory = _ => 60 };
        var cmd = new Command("enqueue", "Plan a dataset job (same options as encode) as one Hangfire job per shard on a PostgreSQL queue, for `wfvae dataset worker`s to run.");
        foreach (var o in job.All.Concat(queue.All).Concat([attempts, retryDelay])) cmd.Options.Add(o);
        cmd.SetAction(r => CliSupport.Run(() =>
        {
            var options = job.Read(r);
            var q = queue.Read(r);
            if (r.GetValue(attempts) < 1) throw new ArgumentException($"--attempts must be at least 1, got {r.GetValue(attempts)}.");
            double delay = r.GetValue(retryDelay);
            if (!double.IsFinite(delay) || delay < 0 || delay > int.MaxValue) throw new ArgumentException($"--retry-delay must be a number of seconds, got {delay}.");
            string modelDir = Path.GetFullPath(r.GetValue(job.Model) ?? DefaultModel.Directory
                ?? throw new InvalidOperationException($"no --model given and no default model found ({DefaultModel.SearchDescription}); pass --model DIR."));
            using var m = CliSupport.LoadModel(modelDir, "cpu", WfVaeComponents.Encoder);
            var result = DatasetQueue.Enqueue(q, new DatasetEncoder(m), options, modelDir, r.GetValue(attempts), TimeSpan.FromSeconds(delay));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"enqueued {result.JobIds.Count} shard job(s) on queue '{DatasetQueueOptions.QueueName}' ({result.ShardCount} shards, {result.ClipCount} clips, {result.AlreadyCommitted.Count} already committed) -> {Path.GetFullPath(options.OutputDirectory)}"));
            return 0;
        }));
        return cmd;
    }

    private static Command CreateWorker()
    {
        var queue = new QueueOptions();
        var device = CliSupport.DeviceOption();
        var threads = CliSupport.ThreadsOption();
        var name = new Option<string?>("--name") { Description = "This worker's name in Hangfire (default: host name and process id)." };
        var cmd = new Command("worker", "Run queued dataset shard jobs, one at a time, until Ctrl+C or SIGTERM (one worker per GPU: --device cuda:N).");
        foreach (var o in queue.All.Concat([device, threads, name])) cmd.Options.Add(o);
        cmd.SetAction(r => CliSupport.Run(stop =>
        {
            CliSupport.ApplyThreads(r.GetValue(threads));
            var q = queue.Read(r);
            string dev = r.GetValue(device)!;
            WfVaeModel.ParseDevice(dev);
            using var worker = new DatasetWorker(q, dir => CliSupport.LoadModel(dir, dev, WfVaeComponents.Encoder), line => Console.Error.WriteLine(line), r.GetValue(name));
            Console.Error.WriteLine($"worker {worker.Name}: running shard jobs from queue '{DatasetQueueOptions.QueueName}' on {dev}; Ctrl+C or SIGTERM stops it (an unfinished shard goes back to the queue)");
            stop.WaitHandle.WaitOne();
            Console.Error.WriteLine($"worker {worker.Name}: stopping");
            return 0;
        }));
        return cmd;
    }

    private static Command CreateStatus()
    {
        var queue = new QueueOptions();
        var cmd = new Command("status", "Print the queue's done / running / failed / enqueued shard jobs and the failed shards with their error; writes manifest.parquet of datasets whose shards are all committed.");
        foreach (var o in queue.All) cmd.Options.Add(o);
        cmd.SetAction(r => CliSupport.Run(() =>
        {
            var s = DatasetQueue.Status(queue.Read(r));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{s.Done} done, {s.Running} running, {s.Failed} failed, {s.Enqueued} enqueued, {s.Retrying} waiting to retry"));
            foreach (var d in s.Datasets)
                Console.WriteLine(d.Problem is { } p
                    ? $"dataset {d.OutputDirectory}: {p}"
                    : string.Create(CultureInfo.InvariantCulture, $"dataset {d.OutputDirectory}: {d.ShardsCommitted}/{d.ShardCount} shards committed; {(d.ManifestWritten ? "manifest.parquet written" : "manifest.parquet pending")}"));
            foreach (var f in s.FailedShards)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"failed: {(f.Job is { } j ? j.ToString() : "(unreadable job)")} (job {f.JobId}, {f.Attempts} attempt(s){(f.FailedAt is { } at ? $", {at:yyyy-MM-dd HH:mm:ss}Z" : "")}): {f.Error}"));
            return 0;
        }));
        return cmd;
    }
}
