using Hangfire;

namespace WfVae.Datasets.Hangfire;

/// <summary>
/// A Hangfire <see cref="BackgroundJobServer"/> with one worker that runs queued shard jobs (one per process; one
/// process per GPU). Hangfire does the leasing: a fetched job stays invisible while this process renews it; if the
/// process dies, another worker fetches the job after <see cref="DatasetQueueOptions.InvisibilityTimeout"/>.
/// Disposing stops after the current clip; the unfinished shard goes back to the queue.
/// </summary>
public sealed class DatasetWorker : IDisposable
{
    private readonly BackgroundJobServer _server;
    private readonly DatasetShardJobRunner _runner;

    /// <param name="queue">The queue's database and lease timings.</param>
    /// <param name="loadModel">Loads a job's model folder on this machine's device (kept for later jobs).</param>
    /// <param name="log">Lines about each shard.</param>
    /// <param name="name">The server name shown by Hangfire (default: host name and process id).</param>
    public DatasetWorker(DatasetQueueOptions queue, Func<string, WfVaeModel> loadModel, Action<string>? log = null, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(queue);
        var storage = queue.CreateStorage();
        _runner = new DatasetShardJobRunner(loadModel, log);
        Name = name ?? $"{Environment.MachineName}:{Environment.ProcessId}";
        _server = new BackgroundJobServer(new BackgroundJobServerOptions
        {
            ServerName = Name,
            WorkerCount = 1,
            Queues = [DatasetQueueOptions.QueueName],
            SchedulePollingInterval = queue.PollInterval,
            Activator = new RunnerActivator(_runner),
            FilterProvider = ShardRetryFilterProvider.WithGlobalFilters(),
        }, storage);
    }

    /// <summary>The name this worker has in Hangfire (the server id starts with it).</summary>
    public string Name { get; }

    /// <summary>Stops fetching, cancels the running shard after its current clip and waits for Hangfire to re-queue it.</summary>
    public void Dispose()
    {
        _server.Dispose();
        _runner.Dispose();
    }

    /// <summary>Hands Hangfire this worker's runner, which holds the loaded models.</summary>
    private sealed class RunnerActivator(DatasetShardJobRunner runner) : JobActivator
    {
        public override object ActivateJob(Type jobType) =>
            jobType == typeof(DatasetShardJobRunner) ? runner
                : throw new InvalidOperationException($"this worker runs WF-VAE dataset shard jobs only, not {jobType.FullName}; is another application using queue '{DatasetQueueOptions.QueueName}'?");
    }
}
