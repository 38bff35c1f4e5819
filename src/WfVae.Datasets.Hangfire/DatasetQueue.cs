using System.Globalization;
using System.Text.Json;
using Hangfire;
using Hangfire.Storage;

namespace WfVae.Datasets.Hangfire;

/// <summary>What <see cref="DatasetQueue.Enqueue"/> did.</summary>
public sealed record DatasetEnqueueResult(int ShardCount, long ClipCount, IReadOnlyList<int> AlreadyCommitted, IReadOnlyList<string> JobIds);

/// <summary>A shard parked in Hangfire's failed state after its attempts were spent.</summary>
public sealed record FailedShard(string JobId, DatasetShardJob? Job, int Attempts, DateTime? FailedAt, string Error);

/// <summary>How far one dataset on the queue is: committed shards of all, and whether manifest.parquet exists.</summary>
public sealed record DatasetCompletion(string OutputDirectory, int ShardsCommitted, int ShardCount, bool ManifestWritten, string? Problem);

/// <summary>The queue's Hangfire counts (storage-wide), the parked shards and each dataset's completion.</summary>
public sealed record DatasetQueueStatus(long Done, long Running, long Failed, long Enqueued, long Retrying, IReadOnlyList<FailedShard> FailedShards, IReadOnlyList<DatasetCompletion> Datasets);

/// <summary>
/// Elastic dataset encoding on Hangfire: <see cref="Enqueue"/> plans a dataset job as one Hangfire job per shard,
/// <see cref="DatasetWorker"/>s run them, <see cref="Status"/> reads Hangfire's monitoring API. Retries, leases and
/// storage are Hangfire's; nothing here schedules.
/// </summary>
public static class DatasetQueue
{
    // Dataset descriptions by output folder, kept in Hangfire's storage so status can finish datasets without job lists.
    private const string DatasetsHash = "wfvae:datasets";

    /// <summary>
    /// Validates the settings for the model, writes (or checks) the dataset record, then enqueues one job per shard
    /// that has no commit marker yet. Enqueuing again is harmless: a job whose shard is committed verifies and skips it.
    /// </summary>
    /// <param name="queue">The queue.</param>
    /// <param name="encoder">An encoder on the model the workers will load from <paramref name="modelDirectory"/> (for validation and the dataset record).</param>
    /// <param name="encode">The dataset job (its shard options are ignored: every shard is planned).</param>
    /// <param name="modelDirectory">The model folder, as the workers will find it.</param>
    /// <param name="attempts">Runs of a shard before it is parked as failed (at least 1).</param>
    /// <param name="retryDelay">Wait between a failed run and the next.</param>
    public static DatasetEnqueueResult Enqueue(DatasetQueueOptions queue, DatasetEncoder encoder, DatasetEncodeOptions encode, string modelDirectory, int attempts = 3, TimeSpan? retryDelay = null)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ArgumentNullException.ThrowIfNull(encoder);
        ArgumentNullException.ThrowIfNull(encode);
        if (attempts < 1) throw new ArgumentOutOfRangeException(nameof(attempts), attempts, "a shard needs at least 1 attempt.");
        var delay = retryDelay ?? TimeSpan.FromMinutes(1);
        if (delay < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(retryDelay), delay, "the retry delay cannot be negative.");
        if (!Directory.Exists(modelDirectory)) throw new DirectoryNotFoundException($"model folder '{modelDirectory}' does not exist; the workers load the model from it.");
        var storage = queue.CreateStorage();
        var plan = encoder.Prepare(encode with { ShardIndex = 0, ShardCount = 1, Shards = null });
        int delaySeconds = checked((int)Math.Ceiling(delay.TotalSeconds));
        var template = DatasetShardJob.For(encode, modelDirectory, -1, plan.ShardCount, attempts, delaySeconds);
        using (var connection = storage.GetConnection())
            connection.SetRangeInHash(DatasetsHash, [new(template.OutputDirectory, JsonSerializer.Serialize(template))]);
        var client = new BackgroundJobClient(storage);
        var ids = new List<string>();
        foreach (int shard in plan.Uncommitted)
        {
            var job = template with { Shard = shard };
            ids.Add(client.Enqueue<DatasetShardJobRunner>(DatasetQueueOptions.QueueName, r => r.Run(job, CancellationToken.None)));
        }
        return new DatasetEnqueueResult(plan.ShardCount, plan.ClipCount, plan.Committed, ids);
    }

    /// <summary>
    /// Hangfire's counts, the failed (parked) shards with their error, and each enqueued dataset's committed shards;
    /// writes a dataset's manifest.parquet when all its shards are committed and it is missing.
    /// </summary>
    public static DatasetQueueStatus Status(DatasetQueueOptions queue)
    {
        ArgumentNullException.ThrowIfNull(queue);
        var storage = queue.CreateStorage();
        var api = storage.GetMonitoringApi();
        var stats = api.GetStatistics();
        var failed = new List<FailedShard>();
        using var connection = storage.GetConnection();
        const int page = 500;
        for (int from = 0; ; from += page)
        {
            var list = api.FailedJobs(from, page);
            foreach (var (id, dto) in list)
            {
                if (dto is null) continue;
                var job = dto.Job?.Args is { Count: > 0 } args ? args[0] as DatasetShardJob : null;
                int retries = int.TryParse(connection.GetJobParameter(id, "RetryCount")?.Trim('"'), NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) ? n : 0;
                string error = dto.ExceptionType is { } type ? $"{ShortType(type)}: {dto.ExceptionMessage}" : dto.Reason ?? dto.ExceptionMessage ?? "unknown error";
                failed.Add(new FailedShard(id, job, retries + 1, dto.FailedAt, error));
            }
            if (list.Count < page) break;
        }
        failed.Sort((a, b) => (a.Job?.Shard ?? int.MaxValue).CompareTo(b.Job?.Shard ?? int.MaxValue));

        var datasets = new List<DatasetCompletion>();
        foreach (var (output, json) in connection.GetAllEntriesFromHash(DatasetsHash) ?? [])
        {
            var template = JsonSerializer.Deserialize<DatasetShardJob>(json);
            if (template is null) continue;
            try
            {
                var (plan, written) = DatasetEncoder.TryComplete(template.ToEncodeOptions() with { Shards = null });
                datasets.Add(new DatasetCompletion(output, plan.Committed.Count, plan.ShardCount, written, null));
            }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or ArgumentException or InvalidOperationException)
            {
                datasets.Add(new DatasetCompletion(output, 0, template.ShardCount, false, e.Message));
            }
        }
        datasets.Sort((a, b) => string.CompareOrdinal(a.OutputDirectory, b.OutputDirectory));
        return new DatasetQueueStatus(stats.Succeeded, stats.Processing, stats.Failed, stats.Enqueued, stats.Scheduled, failed, datasets);
    }

    private static string ShortType(string fullName) => fullName[(fullName.LastIndexOf('.') + 1)..];
}
