using System.Collections.Concurrent;
using System.Globalization;
using Hangfire;

namespace WfVae.Datasets.Hangfire;

/// <summary>
/// The body of a queued shard job: <see cref="DatasetEncoder.Run"/> for that one shard. Idempotent: a committed
/// shard is verified and skipped, so a job that Hangfire runs again after a worker died does no harm. The last shard
/// to commit writes the dataset's manifest.parquet (every job tries; it is written only when all are committed).
/// </summary>
public sealed class DatasetShardJobRunner : IDisposable
{
    private readonly Func<string, WfVaeModel> _loadModel;
    private readonly Action<string> _log;
    private readonly ConcurrentDictionary<string, Lazy<WfVaeModel>> _models = new(StringComparer.Ordinal);

    /// <param name="loadModel">Loads a model folder (device and inference options are the caller's); each folder is loaded once and kept.</param>
    /// <param name="log">Lines worth telling a person: shard started, done, redone.</param>
    public DatasetShardJobRunner(Func<string, WfVaeModel> loadModel, Action<string>? log = null)
    {
        _loadModel = loadModel ?? throw new ArgumentNullException(nameof(loadModel));
        _log = log ?? (_ => { });
    }

    /// <summary>Encodes the job's shard. Hangfire passes its shutdown token: the shard stops after the current clip and is re-queued.</summary>
    [JobDisplayName("dataset {0}")]
    public void Run(DatasetShardJob job, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(job);
        string name = string.Create(CultureInfo.InvariantCulture, $"shard {job.Shard}");
        _log($"{name}: started ({job})");
        var model = _models.GetOrAdd(job.ModelDirectory, dir => new Lazy<WfVaeModel>(() => _loadModel(dir))).Value;
        var progress = new Progress(p => _log(string.Create(CultureInfo.InvariantCulture, $"{name}: {p.ClipsDone}/{p.ClipsTotal} clips")));
        DatasetEncodeResult result;
        try { result = new DatasetEncoder(model).Run(job.ToEncodeOptions(), progress, line => _log(line), ct); }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { _log($"{name}: stopped; it goes back to the queue"); throw; }
        catch (Exception e) { _log($"{name}: failed: {e.GetType().Name}: {e.Message}"); throw; }
        _log(string.Create(CultureInfo.InvariantCulture,
            $"{name}: {(result.ShardsSkipped > 0 ? "already committed" : "committed")}, {result.ClipsOk} clips ok, {result.ClipsFailed} failed, {result.Elapsed.TotalSeconds:F1} s{(result.ManifestWritten ? "; every shard is committed: manifest.parquet written" : "")}"));
    }

    /// <summary>Disposes the models this runner loaded.</summary>
    public void Dispose()
    {
        foreach (var m in _models.Values) if (m.IsValueCreated) m.Value.Dispose();
        _models.Clear();
    }

    /// <summary>Reports synchronously, on the encoding thread, so lines come in order.</summary>
    private sealed class Progress(Action<DatasetProgress> report) : IProgress<DatasetProgress>
    {
        public void Report(DatasetProgress value) => report(value);
    }
}
