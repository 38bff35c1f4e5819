using Hangfire;
using Hangfire.Common;

namespace WfVae.Datasets.Hangfire;

/// <summary>
/// Gives each shard job Hangfire's own <see cref="AutomaticRetryAttribute"/> with the attempts and delay its job
/// description was planned with (instead of Hangfire's global default of 10 retries); when they are spent the job
/// stays in Hangfire's failed state, where <c>status</c> reports it.
/// </summary>
internal sealed class ShardRetryFilterProvider : IJobFilterProvider
{
    public IEnumerable<JobFilter> GetFilters(Job job)
    {
        if (job?.Args is { Count: > 0 } args && args[0] is DatasetShardJob shard)
        {
            yield return new JobFilter(new AutomaticRetryAttribute
            {
                Attempts = Math.Max(0, shard.Attempts - 1),
                DelaysInSeconds = [Math.Max(0, shard.RetryDelaySeconds)],
                OnAttemptsExceeded = AttemptsExceededAction.Fail,
            }, JobFilterScope.Method, null);
        }
    }

    /// <summary>Hangfire's global filters without its default retry filter, plus the per-shard retries.</summary>
    public static IJobFilterProvider WithGlobalFilters()
    {
        var globals = new JobFilterCollection();
        foreach (var f in GlobalJobFilters.Filters)
            if (f.Instance is not AutomaticRetryAttribute) globals.Add(f.Instance, f.Order);
        return new JobFilterProviderCollection(globals, new ShardRetryFilterProvider());
    }
}
