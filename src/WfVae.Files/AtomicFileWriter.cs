using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace WfVae.Files;

/// <summary>
/// Replaces a file or a folder atomically: the content is written to a hidden temporary sibling, flushed to disk and
/// renamed over the target, so readers see the old target or the complete new one, never a half-written one. On any
/// failure or cancellation the temporary sibling is deleted and an existing target is left as it was.
/// </summary>
/// <remarks>
/// Temporary names are <c>.NAME.HHHH-PID-XXXXXX.tmp</c> (HHHH: a tag of the host, PID: the writing process, XXXXXX:
/// random), with NAME shortened when needed so that any name the file system accepts (255 bytes) also works for its
/// temporary sibling. The host and process in the name let <see cref="RemoveStaleTemporaries"/> tell a dead writer's
/// leftovers from a live writer's file. One writer per target at a time.
/// </remarks>
public static class AtomicFileWriter
{
    private const int MaxNameBytes = 255;
    private const string TempExtension = ".tmp", BackupExtension = ".old";

    /// <summary>Writes <paramref name="path"/> from a stream; the stream is flushed to disk before the rename.</summary>
    /// <param name="path">The file to create or replace; its folder must exist.</param>
    /// <param name="write">Writes the content into the (temporary) stream.</param>
    /// <param name="ct">Checked after writing: a cancelled write replaces nothing.</param>
    public static void WriteFile(string path, Action<Stream> write, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(write);
        WriteFileAt(path, temp =>
        {
            using var fs = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
            write(fs);
            fs.Flush(flushToDisk: true);
        }, ct);
    }

    /// <summary>Writes <paramref name="path"/> as UTF-8 text (no byte-order mark).</summary>
    public static void WriteAllText(string path, string text, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        WriteFile(path, s => s.Write(Encoding.UTF8.GetBytes(text)), ct);
    }

    /// <summary>
    /// Writes <paramref name="path"/> through a temporary path that <paramref name="writeTemp"/> creates itself (e.g. an
    /// external process writing a file); the file is flushed to disk before the rename.
    /// </summary>
    /// <param name="path">The file to create or replace; its folder must exist.</param>
    /// <param name="writeTemp">Creates the file at the temporary path it is given (which does not exist yet).</param>
    /// <param name="ct">Checked after writing: a cancelled write replaces nothing.</param>
    public static void WriteFileAt(string path, Action<string> writeTemp, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(writeTemp);
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full)) throw new IOException($"'{full}' is a folder; cannot write a file there.");
        string temp = NewTempSibling(full);
        try
        {
            ct.ThrowIfCancellationRequested();
            writeTemp(temp);
            if (!File.Exists(temp)) throw new IOException($"nothing was written for '{full}'.");
            FlushToDisk(temp);
            ct.ThrowIfCancellationRequested();
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            TryDeleteFile(temp);
        }
    }

    /// <summary>
    /// Writes the folder <paramref name="path"/>: <paramref name="fillTemp"/> fills a fresh temporary sibling folder,
    /// every file in it is flushed to disk, and it replaces the target. Folders cannot be renamed over a non-empty
    /// folder, so an existing target is first renamed to <see cref="BackupPathOf"/>, deleted once the new folder is in
    /// place; a reader that finds the target missing after a crash can fall back to that backup.
    /// </summary>
    /// <param name="path">The folder to create or replace; its parent is created when missing.</param>
    /// <param name="fillTemp">Writes the content into the (temporary, existing, empty) folder it is given.</param>
    /// <param name="ct">Checked after writing: a cancelled write replaces nothing.</param>
    public static void WriteDirectory(string path, Action<string> fillTemp, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(fillTemp);
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        if (File.Exists(full)) throw new IOException($"'{full}' is a file; cannot write a folder there.");
        Directory.CreateDirectory(Path.GetDirectoryName(full) ?? throw new ArgumentException($"'{full}' has no parent folder.", nameof(path)));
        string temp = NewTempSibling(full);
        Directory.CreateDirectory(temp);
        try
        {
            ct.ThrowIfCancellationRequested();
            fillTemp(temp);
            foreach (var file in Directory.EnumerateFiles(temp, "*", SearchOption.AllDirectories)) FlushToDisk(file);
            ct.ThrowIfCancellationRequested();
            string backup = BackupPathOf(full);
            if (Directory.Exists(full))
            {
                if (Directory.Exists(backup)) Directory.Delete(backup, recursive: true);
                Directory.Move(full, backup);
            }
            try
            {
                Directory.Move(temp, full);
            }
            catch
            {
                if (!Directory.Exists(full) && Directory.Exists(backup)) Directory.Move(backup, full);
                throw;
            }
            try { if (Directory.Exists(backup)) Directory.Delete(backup, recursive: true); }
            catch (IOException) { } // the new folder is in place; only the replaced one lingers
            catch (UnauthorizedAccessException) { }
        }
        finally
        {
            try { if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>Where <see cref="WriteDirectory"/> keeps the previous folder while it swaps in the new one: <c>.NAME.old</c> beside it.</summary>
    public static string BackupPathOf(string directory)
    {
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory));
        return Path.Combine(Path.GetDirectoryName(full)!, "." + Shortened(Path.GetFileName(full), 1 + BackupExtension.Length) + BackupExtension);
    }

    /// <summary>True for the names of this helper's temporary siblings (e.g. to skip them in a folder listing).</summary>
    public static bool IsTemporaryName(string name) => TempName.IsMatch(name);

    /// <summary>
    /// Deletes the temporary files and folders in <paramref name="directory"/> whose writer is gone: written on this
    /// host by a process that no longer runs (or whose process id now belongs to a process started after the
    /// temporary was last written). Temporaries of live writers, of other hosts and any other name are left alone, so
    /// concurrent runs writing into the same folder are safe. Returns the paths deleted.
    /// </summary>
    public static IReadOnlyList<string> RemoveStaleTemporaries(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        if (!Directory.Exists(directory)) return [];
        var removed = new List<string>();
        foreach (var entry in Directory.EnumerateFileSystemEntries(directory))
        {
            var m = TempName.Match(Path.GetFileName(entry));
            if (!m.Success || m.Groups["host"].Value != HostTag) continue;
            if (!int.TryParse(m.Groups["pid"].Value, NumberStyles.None, CultureInfo.InvariantCulture, out int pid)) continue;
            try
            {
                bool folder = Directory.Exists(entry);
                DateTime lastWrite = folder ? Directory.GetLastWriteTimeUtc(entry) : File.GetLastWriteTimeUtc(entry);
                if (WriterMayBeAlive(pid, lastWrite)) continue;
                if (folder) Directory.Delete(entry, recursive: true);
                else File.Delete(entry);
                removed.Add(entry);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return removed;
    }

    private static readonly Regex TempName = new(@"^\.(?<name>.+)\.(?<host>[0-9a-f]{4})-(?<pid>[0-9]{1,10})-[0-9a-f]{6}\.tmp$", RegexOptions.CultureInvariant);

    /// <summary>Four hex digits of the host name: temporaries on a shared folder are only judged by their own host.</summary>
    private static readonly string HostTag = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(Environment.MachineName)), 0, 2).ToLowerInvariant();

    private static readonly string ProcessTag = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);

    /// <summary>A live process with that id that started before the temporary's last write may still be writing it.</summary>
    private static bool WriterMayBeAlive(int pid, DateTime lastWriteUtc)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            // One second of slack: process start times are derived from the boot time, which is rounded.
            return p.StartTime.ToUniversalTime() <= lastWriteUtc.AddSeconds(1);
        }
        catch (ArgumentException) { return false; } // no such process
        catch (InvalidOperationException) { return false; } // it exited meanwhile
        catch (System.ComponentModel.Win32Exception) { return true; } // cannot tell: keep it
    }

    /// <summary>
    /// The temporary siblings of <paramref name="path"/> left by writers that died before their rename (a killed
    /// process). Only the process that owns the target may delete them: a live writer's temporary file looks the same.
    /// </summary>
    public static IReadOnlyList<string> TemporarySiblingsOf(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        string full = Path.GetFullPath(path);
        string? dir = Path.GetDirectoryName(full);
        if (dir is null || !Directory.Exists(dir)) return [];
        string name = Path.GetFileName(full);
        return Directory.EnumerateFileSystemEntries(dir)
            .Where(p => TempName.Match(Path.GetFileName(p)) is { Success: true } m
                        && m.Groups["name"].Value == Shortened(name, TempSuffixBytes(m.Groups["pid"].Length)))
            .Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>A hidden, unused sibling name in the target's folder, so the final move is a rename within one file system.</summary>
    private static string NewTempSibling(string full)
    {
        string dir = Path.GetDirectoryName(full) ?? throw new ArgumentException($"'{full}' has no parent folder.");
        string name = Shortened(Path.GetFileName(full), TempSuffixBytes(ProcessTag.Length));
        while (true)
        {
            string random = Convert.ToHexString(RandomNumberGenerator.GetBytes(3)).ToLowerInvariant();
            string candidate = Path.Combine(dir, $".{name}.{HostTag}-{ProcessTag}-{random}{TempExtension}");
            if (!File.Exists(candidate) && !Directory.Exists(candidate)) return candidate;
        }
    }

    /// <summary>Bytes a temporary name adds to its target's name: the dots, host tag, process id, random part and extension.</summary>
    private static int TempSuffixBytes(int pidDigits) => 2 + 4 + 1 + pidDigits + 1 + 6 + TempExtension.Length;

    /// <summary><paramref name="name"/> cut (at a character boundary) so that it plus <paramref name="extraBytes"/> fits in one file name.</summary>
    private static string Shortened(string name, int extraBytes)
    {
        int budget = MaxNameBytes - extraBytes;
        if (Encoding.UTF8.GetByteCount(name) <= budget) return name;
        var kept = new StringBuilder();
        int bytes = 0;
        foreach (var rune in name.EnumerateRunes())
        {
            if (bytes + rune.Utf8SequenceLength > budget) break;
            kept.Append(rune.ToString());
            bytes += rune.Utf8SequenceLength;
        }
        return kept.ToString();
    }

    private static void FlushToDisk(string file)
    {
        // Opened for writing because FileStream only fsyncs handles it can write to.
        using var fs = new FileStream(file, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
        fs.Flush(flushToDisk: true);
    }

    private static void TryDeleteFile(string file)
    {
        try { File.Delete(file); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
