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

/// <summary>Torch-heavy tests share one collection so they run one at a time on CI's 2 cores.</summary>
[CollectionDefinition("Torch", DisableParallelization = true)]
public sealed class TorchCollection { }
