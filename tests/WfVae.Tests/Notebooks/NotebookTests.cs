using System.Diagnostics;

namespace WfVae.Tests.Notebooks;

/// <summary>
/// Runs every notebook (a C# file-based app under notebooks/) exactly as a user would, with
/// `dotnet run notebooks/NAME.cs -- MODEL_DIR`, on the tiny fixture model; each must exit 0 and print "notebook OK".
/// </summary>
public sealed class NotebookTests
{
    public static TheoryData<string> Notebooks => new(Directory.GetFiles(Path.Combine(TestPaths.RepoRoot, "notebooks"), "*.cs").Select(Path.GetFileName).OfType<string>().Order());

    [Theory]
    [MemberData(nameof(Notebooks))]
    public async Task Notebook_runs_to_completion(string notebook)
    {
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = Path.Combine(TestPaths.RepoRoot, "notebooks"), RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "run", notebook, "--", TestPaths.TinyModelDir }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(8));
        try { await p.WaitForExitAsync(timeout.Token); }
        catch (OperationCanceledException) { p.Kill(true); Assert.Fail($"{notebook} did not finish in 8 minutes"); }
        string output = await stdout, errors = await stderr;
        Assert.True(p.ExitCode == 0, $"{notebook} exited {p.ExitCode}\n{output}\n{errors}");
        Assert.Contains("notebook OK", output);
    }
}
