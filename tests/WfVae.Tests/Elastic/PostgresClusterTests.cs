namespace WfVae.Tests.Elastic;

/// <summary>The PostgreSQL fixture itself: it finds Debian's versioned binaries and, without them, fails saying what to install.</summary>
public sealed class PostgresClusterTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("wfvae-pgfind");

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public void Without_postgresql_the_fixture_fails_naming_what_to_install()
    {
        var e = Assert.Throws<InvalidOperationException>(() => PostgresCluster.FindBinaries(Path.Combine(_dir, "none"), _dir));
        Assert.Contains("PostgreSQL is not installed", e.Message);
        Assert.Contains("apt-get install postgresql", e.Message);
    }

    [Fact]
    public void The_newest_debian_version_is_taken_before_path()
    {
        foreach (var version in new[] { "13", "15", "9.6" })
        {
            string bin = Directory.CreateDirectory(Path.Combine(_dir, "lib", version, "bin")).FullName;
            File.WriteAllText(Path.Combine(bin, "initdb"), "");
            File.WriteAllText(Path.Combine(bin, "pg_ctl"), "");
        }
        string onPath = Directory.CreateDirectory(Path.Combine(_dir, "path")).FullName;
        File.WriteAllText(Path.Combine(onPath, "initdb"), "");
        File.WriteAllText(Path.Combine(onPath, "pg_ctl"), "");
        Assert.Equal(Path.Combine(_dir, "lib", "15", "bin"), PostgresCluster.FindBinaries(Path.Combine(_dir, "lib"), onPath));
        Assert.Equal(onPath, PostgresCluster.FindBinaries(Path.Combine(_dir, "no-lib"), "/nonexistent:" + onPath));
    }
}
