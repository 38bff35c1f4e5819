using System.Diagnostics;

namespace WfVae.Tests.Cli;

/// <summary>
/// The repo-root <c>./wfvae</c> launcher builds only when a build input changed: its stamp (scripts/build-inputs-stamp.sh)
/// follows edits, new and deleted sources, and ignores build outputs and files outside the build.
/// </summary>
public sealed class LauncherTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("wfvae-launcher");
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private static (int Code, string Out, string Err) Bash(string workDir, IReadOnlyDictionary<string, string>? env, params string[] args)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = workDir };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(8))) { p.Kill(true); throw new TimeoutException($"bash {string.Join(' ', args)} did not finish"); }
        return (p.ExitCode, stdout.Result.Trim(), stderr.Result.Trim());
    }

    private string Stamp()
    {
        var r = Bash(_dir, null, Path.Combine(TestPaths.RepoRoot, "scripts", "build-inputs-stamp.sh"), _dir);
        Assert.True(r.Code == 0, r.Err);
        Assert.Matches("^[0-9a-f]{40}$", r.Out);
        return r.Out;
    }

    [Fact]
    public void The_stamp_changes_with_build_inputs_only()
    {
        Assert.Equal(0, Bash(_dir, null, "-c", "git init -q . && printf 'bin/\\nobj/\\n' > .gitignore && mkdir -p src/A docs && echo 'class A {}' > src/A/A.cs && echo '<Project/>' > Directory.Build.props && git add -A").Code);
        string first = Stamp();
        Assert.Equal(first, Stamp());

        File.WriteAllText(Path.Combine(_dir, "docs", "notes.md"), "not a build input");
        Directory.CreateDirectory(Path.Combine(_dir, "src", "A", "bin"));
        File.WriteAllText(Path.Combine(_dir, "src", "A", "bin", "A.dll"), "a build output");
        Assert.Equal(first, Stamp());

        File.WriteAllText(Path.Combine(_dir, "src", "A", "A.cs"), "class A { int x; }");
        string edited = Stamp();
        Assert.NotEqual(first, edited);

        File.WriteAllText(Path.Combine(_dir, "src", "A", "B.cs"), "class B {}"); // untracked, not ignored: compiled by the glob
        string added = Stamp();
        Assert.NotEqual(edited, added);

        File.Delete(Path.Combine(_dir, "src", "A", "B.cs"));
        File.Delete(Path.Combine(_dir, "Directory.Build.props")); // tracked, deleted in the working tree
        Assert.NotEqual(added, Stamp());
    }

    [Fact]
    public void The_launcher_skips_the_build_when_nothing_changed()
    {
        var env = new Dictionary<string, string> { ["WFVAE_LAUNCHER_TRACE"] = "1", ["WFVAE_MODEL"] = "" };
        string launcher = Path.Combine(TestPaths.RepoRoot, "wfvae");
        var first = Bash(TestPaths.RepoRoot, env, launcher, "--version"); // builds when the stamp is missing or stale (a fresh clone)
        Assert.True(first.Code == 0, first.Err);
        var second = Bash(TestPaths.RepoRoot, env, launcher, "--version");
        Assert.True(second.Code == 0, second.Err);
        Assert.Contains("wfvae: build inputs unchanged: not building", second.Err);
        Assert.Equal(first.Out, second.Out);
    }
}
