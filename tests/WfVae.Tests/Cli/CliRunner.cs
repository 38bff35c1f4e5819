using System.Diagnostics;

namespace WfVae.Tests.Cli;

/// <summary>Runs the built wfvae CLI (WfVae.Cli.dll next to the tests) as a separate process.</summary>
internal static class CliRunner
{
    public sealed record Result(int ExitCode, string StdOut, string StdErr);

    public static Result Run(params string[] args)
    {
        using var p = Start(args);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(3))) { p.Kill(true); throw new TimeoutException($"wfvae {string.Join(' ', args)} did not finish in 3 minutes"); }
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Starts the CLI with redirected stdout/stderr, which the caller must drain.</summary>
    public static Process Start(params string[] args) => Start(new Dictionary<string, string>(), args);

    /// <summary>Starts the CLI with extra environment variables, redirected stdout/stderr, which the caller must drain.</summary>
    public static Process Start(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "WfVae.Cli.dll");
        Assert.True(File.Exists(dll), $"CLI not built next to the tests: {dll}");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["WFVAE_MODEL"] = "";
        foreach (var (k, v) in environment) psi.Environment[k] = v;
        return Process.Start(psi)!;
    }
}
