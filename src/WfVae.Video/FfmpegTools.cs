using System.Collections.Concurrent;
using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using FFMpegCore;

namespace WfVae.Video;

/// <summary>Locates ffmpeg/ffprobe and starts them without a shell (arguments go through <see cref="ProcessStartInfo.ArgumentList"/>).</summary>
internal static class FfmpegTools
{
    /// <summary>Environment variable naming the folder that holds ffmpeg and ffprobe.</summary>
    public const string DirectoryEnvVar = "WFVAE_FFMPEG_DIR";

    private const string InstallHint =
        "install it (Debian/Ubuntu: `apt-get install ffmpeg`) or put ffmpeg and ffprobe on PATH, or set " + DirectoryEnvVar + " to their folder";

    /// <summary>
    /// Resolves the full path of <paramref name="tool"/> ("ffmpeg" or "ffprobe"); errors name <paramref name="forFile"/>.
    /// <paramref name="ffmpegFolder"/> (the caller's option) wins over the environment variable and FFMpegCore's options.
    /// </summary>
    public static string Resolve(string tool, string forFile, string? ffmpegFolder = null)
    {
        string exeName = OperatingSystem.IsWindows() ? tool + ".exe" : tool;
        (string? folder, string source) = ConfiguredFolder(ffmpegFolder);
        if (folder is not null)
        {
            string candidate = Path.Combine(folder, exeName);
            if (File.Exists(candidate))
                return candidate;
            throw new VideoIOException(forFile, $"{tool} was not found in '{folder}' (configured by {source}); {InstallHint}.");
        }

        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate;
            try
            {
                candidate = Path.Combine(dir, exeName);
            }
            catch (ArgumentException)
            {
                continue;
            }
            if (File.Exists(candidate))
                return candidate;
        }
        throw new VideoIOException(forFile, $"{tool} is not installed or not on PATH; {InstallHint}.");
    }

    private static (string? Folder, string Source) ConfiguredFolder(string? ffmpegFolder)
    {
        if (ffmpegFolder is { Length: > 0 } o)
            return (o, "the FfmpegFolder option");
        if (Environment.GetEnvironmentVariable(DirectoryEnvVar) is { Length: > 0 } env)
            return (env, "the " + DirectoryEnvVar + " environment variable");
        if (GlobalFFOptions.Current.BinaryFolder is { Length: > 0 } ff)
            return (ff, "FFMpegCore GlobalFFOptions.BinaryFolder");
        return (null, "");
    }

    /// <summary>Starts <paramref name="tool"/> with stderr captured; stdout/stdin redirected as asked.</summary>
    public static ToolProcess Start(string tool, string forFile, IEnumerable<string> arguments, bool redirectStdin, bool redirectStdout, string? ffmpegFolder)
    {
        string exe = Resolve(tool, forFile, ffmpegFolder);
        var psi = new ProcessStartInfo(exe)
        {
            UseShellExecute = false,
            CreateNoWindow = true,
            RedirectStandardError = true,
            RedirectStandardOutput = redirectStdout,
            RedirectStandardInput = redirectStdin,
        };
        foreach (string a in arguments)
            psi.ArgumentList.Add(a);
        var process = new Process { StartInfo = psi };
        var result = new ToolProcess(process, tool);
        try
        {
            process.Start();
        }
        catch (Win32Exception ex)
        {
            process.Dispose();
            throw new VideoIOException(forFile, $"could not start {tool} ('{exe}'): {ex.Message}; {InstallHint}.", ex);
        }
        process.BeginErrorReadLine();
        return result;
    }

    private static readonly ConcurrentDictionary<string, (int Major, int Minor)?> VersionCache = new(StringComparer.Ordinal);

    /// <summary>
    /// The option that makes ffmpeg pass frames through without duplicating or dropping any (needed after <c>select</c>
    /// and for variable-rate input): <c>-fps_mode passthrough</c> from ffmpeg 5.1, <c>-vsync passthrough</c> before.
    /// </summary>
    public static string[] PassthroughOption(string forFile, string? ffmpegFolder)
    {
        var version = Version(forFile, ffmpegFolder);
        bool old = version is { } v && (v.Major < 5 || (v.Major == 5 && v.Minor < 1));
        return old ? ["-vsync", "passthrough"] : ["-fps_mode", "passthrough"];
    }

    /// <summary>ffmpeg's release version, or null for builds whose version string is not a release number (git builds are recent).</summary>
    private static (int Major, int Minor)? Version(string forFile, string? ffmpegFolder)
    {
        string exe = Resolve("ffmpeg", forFile, ffmpegFolder);
        return VersionCache.GetOrAdd(exe, static (exe, file) =>
        {
            using var proc = Start("ffmpeg", file, ["-hide_banner", "-version"], redirectStdin: false, redirectStdout: true, Path.GetDirectoryName(exe));
            string text = proc.Process.StandardOutput.ReadToEnd();
            proc.WaitForExit();
            var m = Regex.Match(text, @"^ffmpeg version n?(\d+)\.(\d+)");
            return m.Success
                ? (int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture))
                : null;
        }, forFile);
    }

    /// <summary>An "ffmpeg:"-proof file argument: the absolute path behind the <c>file:</c> protocol, so no name is read as an option or protocol.</summary>
    public static string FileArgument(string fullPath) => "file:" + fullPath;
}

/// <summary>A started ffmpeg/ffprobe process that keeps the tail of its stderr and is killed and reaped on dispose.</summary>
internal sealed class ToolProcess : IDisposable
{
    private const int KeptLines = 20;
    private readonly Queue<string> _stderrTail = new();
    private int _stderrLines;
    private bool _disposed;

    public ToolProcess(Process process, string tool)
    {
        Process = process;
        Tool = tool;
        process.ErrorDataReceived += (_, e) =>
        {
            if (string.IsNullOrWhiteSpace(e.Data))
                return;
            lock (_stderrTail)
            {
                _stderrLines++;
                _stderrTail.Enqueue(e.Data.Trim());
                if (_stderrTail.Count > KeptLines)
                    _stderrTail.Dequeue();
            }
        };
    }

    public Process Process { get; }

    public string Tool { get; }

    /// <summary>Number of non-empty stderr lines seen so far (with <c>-loglevel error</c>, each one is an error report).</summary>
    public int StderrLineCount
    {
        get
        {
            lock (_stderrTail)
                return _stderrLines;
        }
    }

    /// <summary>The last non-empty stderr line, or null.</summary>
    public string? LastStderrLine
    {
        get
        {
            lock (_stderrTail)
                return _stderrTail.Count == 0 ? null : _stderrTail.Last();
        }
    }

    /// <summary>Waits for exit, including the end of the stderr stream, and returns the exit code.</summary>
    public int WaitForExit()
    {
        Process.WaitForExit();
        return Process.ExitCode;
    }

    /// <summary>Describes a failed run: exit code and last stderr line.</summary>
    public string Failure(string what)
    {
        string exit = Process.HasExited ? $"exit code {Process.ExitCode}" : "still running";
        string last = LastStderrLine is { } l ? $"; last {Tool} message: {l}" : "";
        return $"{what} ({Tool} {exit}){last}";
    }

    /// <summary>Kills the process tree if it is still running (safe to call from any thread, several times).</summary>
    public void Kill()
    {
        try
        {
            if (!Process.HasExited)
                Process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited or never started.
        }
        catch (Win32Exception)
        {
            // Exiting concurrently.
        }
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        Kill();
        try
        {
            // Reaps the child so that no zombie is left behind.
            Process.WaitForExit();
        }
        catch (InvalidOperationException)
        {
        }
        Process.Dispose();
    }
}
