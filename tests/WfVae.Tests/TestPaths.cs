namespace WfVae.Tests;

/// <summary>Locates the repository root and the shared fixtures (../shared/fixtures beside the repo).</summary>
internal static class TestPaths
{
    public static string RepoRoot { get; } = FindRepoRoot();

    public static string FixturesRoot
    {
        get
        {
            string dir = Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "fixtures"));
            if (!Directory.Exists(dir))
                throw new DirectoryNotFoundException($"Parity fixtures not found at '{dir}'. Clone the repository beside the project's shared/ folder so that ../shared/fixtures exists (CI provides it).");
            return dir;
        }
    }

    public static string TinyModelDir => Path.Combine(FixturesRoot, "wfvae-tiny");

    public static string Fixture(string name)
    {
        string p = Path.Combine(TinyModelDir, name);
        if (!File.Exists(p)) throw new FileNotFoundException($"Fixture file missing: '{p}'.", p);
        return p;
    }

    public static string NewTempDir(string prefix = "wfvae-test")
    {
        string d = Path.Combine(Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(d);
        return d;
    }

    private static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "WfVae.MLNet.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException($"Cannot find WfVae.MLNet.sln above '{AppContext.BaseDirectory}'.");
    }
}

/// <summary>
/// Tests that change process-wide libtorch state (the intra-op thread count, the global generator's sequence through
/// manual_seed) or count the process's live tensors run alone, after the parallel tests; every other test class is its
/// own collection and runs in parallel.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GlobalTorchStateCollection
{
    public const string Name = "GlobalTorchState";
}
