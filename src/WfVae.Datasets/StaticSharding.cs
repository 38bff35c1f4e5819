using System.Globalization;

namespace WfVae.Datasets;

/// <summary>
/// Which shards a process owns under static sharding (s % count == index): from explicit values, else from the
/// variables that Kubernetes Indexed Jobs, Slurm job arrays and torchrun set. The caller passes the environment.
/// </summary>
public static class StaticSharding
{
    /// <summary>This process's shard index and count: the options, else the variables of Kubernetes Indexed Jobs, Slurm arrays or torchrun.</summary>
    public static (int Index, int Count, string From) Resolve(int? index, int? count, System.Collections.IDictionary env)
    {
        int? Env(string name) => env[name] is string v && int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) ? n : null;
        string from = "the given index and count";
        if (index is null)
        {
            if (Env("JOB_COMPLETION_INDEX") is int k) { index = k; from = "JOB_COMPLETION_INDEX"; }
            else if (Env("SLURM_ARRAY_TASK_ID") is int a) { index = a - (Env("SLURM_ARRAY_TASK_MIN") ?? 0); count ??= Env("SLURM_ARRAY_TASK_COUNT"); from = "SLURM_ARRAY_TASK_ID"; }
            else if (Env("RANK") is int rank) { index = rank; count ??= Env("WORLD_SIZE"); from = "RANK/WORLD_SIZE"; }
        }
        if (index is not null && count is null)
            throw new ArgumentException($"the shard index comes from {from}, but the shard count is unknown: give it explicitly.");
        int i = index ?? 0, c = count ?? 1;
        if (c < 1 || i < 0 || i >= c) throw new ArgumentException($"shard index {i} is not in [0, {c - 1}] for a shard count of {c} (from {from}).");
        return (i, c, from);
    }
}
