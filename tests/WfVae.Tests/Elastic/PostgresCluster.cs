using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace WfVae.Tests.Elastic;

/// <summary>
/// A throwaway PostgreSQL cluster for the tests: <c>initdb</c> into a temporary folder (as the <c>postgres</c> user
/// when the tests run as root, since initdb refuses root), trust authentication, listening on 127.0.0.1 on a free
/// port, stopped and deleted on Dispose and, should Dispose not run, when the test process exits. Without PostgreSQL
/// installed it fails with what to install; it never skips.
/// </summary>
public sealed class PostgresCluster : IDisposable
{
    private readonly string _root, _data, _bin;
    private readonly string? _runAs;
    private int _stopped;

    public PostgresCluster()
    {
        _bin = FindBinaries();
        _runAs = IsRoot() ? "postgres" : null;
        _root = TestPaths.NewTempDir("wfvae-pg");
        _data = Path.Combine(_root, "data");
        if (_runAs is not null)
        {
            if (!File.ReadLines("/etc/passwd").Any(l => l.StartsWith("postgres:", StringComparison.Ordinal)))
                throw new InvalidOperationException("the tests run as root and initdb refuses root, but there is no 'postgres' user to run it as; install the postgresql package (apt-get install postgresql, or scripts/ensure-deps.sh --tests), which creates it.");
            Exec("chown", ["-R", "postgres:postgres", _root]);
        }
        Port = FreePort();
        AppDomain.CurrentDomain.ProcessExit += OnProcessExit;
        try
        {
            Pg("initdb", ["-D", _data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"]);
            Pg("pg_ctl", ["-D", _data, "-l", Path.Combine(_root, "server.log"), "-w", "-t", "60", "-o",
                $"-p {Port} -k {_root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", "start"]);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The port the cluster listens on (127.0.0.1).</summary>
    public int Port { get; }

    /// <summary>A connection string for <paramref name="database"/>.</summary>
    public string ConnectionString(string database = "postgres") =>
        new NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = Port, Username = "postgres", Database = database, Pooling = false }.ConnectionString;

    /// <summary>A new empty database (one per test, so Hangfire's counts are the test's own); returns its connection string.</summary>
    public string CreateDatabase()
    {
        string name = $"t_{Guid.NewGuid():N}";
        using var c = new NpgsqlConnection(ConnectionString());
        c.Open();
        using var cmd = new NpgsqlCommand($"CREATE DATABASE {name}", c);
        cmd.ExecuteNonQuery();
        return ConnectionString(name);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0) return;
        AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
        try
        {
            if (File.Exists(Path.Combine(_data, "postmaster.pid")))
                Pg("pg_ctl", ["-D", _data, "-m", "immediate", "-w", "-t", "30", "stop"]);
        }
        finally
        {
            try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private void OnProcessExit(object? sender, EventArgs e)
    {
        try { Dispose(); } catch (Exception) { } // the process is going away; nothing can report this
    }

    private void Pg(string tool, string[] args)
    {
        string exe = Path.Combine(_bin, tool);
        if (_runAs is null) Exec(exe, args);
        else Exec("runuser", ["-u", _runAs, "--", exe, .. args]);
    }

    private void Exec(string file, string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = Path.GetTempPath() };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {file}");
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromSeconds(90))) { p.Kill(true); throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in 90 s"); }
        if (p.ExitCode != 0)
        {
            string log = Path.Combine(_root, "server.log");
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited with {p.ExitCode}: {error.Result.Trim()} {output.Result.Trim()}"
                + (File.Exists(log) ? $"; server log: {File.ReadAllText(log).Trim()}" : ""));
        }
    }

    private static string FindBinaries() => FindBinaries("/usr/lib/postgresql", Environment.GetEnvironmentVariable("PATH"));

    /// <summary>The folder with initdb and pg_ctl: the newest version under <paramref name="libRoot"/> (Debian's layout), else on <paramref name="path"/>.</summary>
    internal static string FindBinaries(string libRoot, string? path)
    {
        var candidates = Directory.Exists(libRoot)
            ? Directory.GetDirectories(libRoot).Select(d => Path.Combine(d, "bin"))
                .OrderByDescending(d => int.TryParse(Path.GetFileName(Path.GetDirectoryName(d)), out int v) ? v : 0).ToList()
            : [];
        candidates.AddRange((path ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries));
        return candidates.FirstOrDefault(d => File.Exists(Path.Combine(d, "initdb")) && File.Exists(Path.Combine(d, "pg_ctl")))
            ?? throw new InvalidOperationException($"PostgreSQL is not installed: no initdb and pg_ctl in {libRoot}/*/bin or on PATH. The elastic dataset tests need a real PostgreSQL server: install it with `apt-get install postgresql` (scripts/ensure-deps.sh --tests does so; ./test.sh and .ci/run call it).");
    }

    private static bool IsRoot()
    {
        try { return File.ReadLines("/proc/self/status").Any(l => l.StartsWith("Uid:", StringComparison.Ordinal) && l.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1] == "0"); }
        catch (IOException) { return false; }
    }

    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}
