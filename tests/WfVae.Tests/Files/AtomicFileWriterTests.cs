using System.Text;
using WfVae.Files;

namespace WfVae.Tests.Files;

public sealed class AtomicFileWriterTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("wfvae-atomic");
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private string[] Entries() => Directory.GetFileSystemEntries(_dir).Select(e => Path.GetFileName(e)!).Order(StringComparer.Ordinal).ToArray();

    [Fact]
    public void FailureMidWriteLeavesThePreviousFileAndNoTemporary()
    {
        string target = Path.Combine(_dir, "out.bin");
        AtomicFileWriter.WriteAllText(target, "previous");
        var ex = Assert.Throws<InvalidOperationException>(() => AtomicFileWriter.WriteFile(target, s =>
        {
            s.Write(Encoding.UTF8.GetBytes("half of the new cont"));
            s.Flush();
            throw new InvalidOperationException("disk on fire");
        }));
        Assert.Equal("disk on fire", ex.Message);
        Assert.Equal("previous", File.ReadAllText(target));
        Assert.Equal(["out.bin"], Entries());
    }

    [Fact]
    public void FailureWithoutAPreviousFileLeavesNothing()
    {
        string target = Path.Combine(_dir, "new.bin");
        Assert.Throws<IOException>(() => AtomicFileWriter.WriteFileAt(target, temp => { File.WriteAllText(temp, "partial"); throw new IOException("encoder died"); }));
        Assert.Empty(Entries());
        // A writer that reports success but creates nothing is a failure, not an empty target.
        Assert.Throws<IOException>(() => AtomicFileWriter.WriteFileAt(target, _ => { }));
        Assert.Empty(Entries());
    }

    [Fact]
    public void CancellationAfterWritingReplacesNothing()
    {
        string target = Path.Combine(_dir, "out.txt");
        AtomicFileWriter.WriteAllText(target, "previous");
        using var cts = new CancellationTokenSource();
        Assert.ThrowsAny<OperationCanceledException>(() => AtomicFileWriter.WriteFile(target, s => { s.WriteByte(1); cts.Cancel(); }, cts.Token));
        Assert.Equal("previous", File.ReadAllText(target));
        Assert.Equal(["out.txt"], Entries());
    }

    [Fact]
    public void SuccessReplacesTheTargetAndWritesTheWholeContent()
    {
        string target = Path.Combine(_dir, "out.bin");
        AtomicFileWriter.WriteAllText(target, "previous, longer than the new content");
        var bytes = Enumerable.Range(0, 3 << 20).Select(i => (byte)(i * 7)).ToArray();
        AtomicFileWriter.WriteFile(target, s => s.Write(bytes));
        Assert.Equal(bytes, File.ReadAllBytes(target));
        Assert.Equal(["out.bin"], Entries());
    }

    [Theory]
    [InlineData(255, 'a')]   // the longest ASCII name
    [InlineData(237, 'b')]   // a length the old ~52-character temporary suffix broke
    [InlineData(127, 'é')]   // 254 bytes of two-byte characters
    public void NamesUpToTheFileSystemLimitWork(int count, char c)
    {
        string name = new string(c, count);
        Assert.True(Encoding.UTF8.GetByteCount(name) <= 255);
        string file = Path.Combine(_dir, name);
        AtomicFileWriter.WriteAllText(file, "one");
        AtomicFileWriter.WriteAllText(file, "two");
        Assert.Equal("two", File.ReadAllText(file));
        Assert.Throws<IOException>(() => AtomicFileWriter.WriteFile(file, _ => throw new IOException("fail")));
        Assert.Equal("two", File.ReadAllText(file));

        // The same name as a folder, replaced twice (the second time through the backup sibling).
        string folder = file;
        File.Delete(file);
        AtomicFileWriter.WriteDirectory(folder, tmp => File.WriteAllText(Path.Combine(tmp, "x"), "1"));
        AtomicFileWriter.WriteDirectory(folder, tmp => File.WriteAllText(Path.Combine(tmp, "x"), "2"));
        Assert.Equal("2", File.ReadAllText(Path.Combine(folder, "x")));
        Assert.Equal([name], Entries());
    }

    [Fact]
    public void FolderIsReplacedAsAWholeAndAFailureKeepsThePreviousOne()
    {
        string target = Path.Combine(_dir, "model");
        AtomicFileWriter.WriteDirectory(target, tmp =>
        {
            File.WriteAllText(Path.Combine(tmp, "a.txt"), "old a");
            Directory.CreateDirectory(Path.Combine(tmp, "sub"));
            File.WriteAllText(Path.Combine(tmp, "sub", "b.txt"), "old b");
        });
        Assert.Throws<InvalidDataException>(() => AtomicFileWriter.WriteDirectory(target, tmp =>
        {
            File.WriteAllText(Path.Combine(tmp, "a.txt"), "new a");
            throw new InvalidDataException("export failed");
        }));
        Assert.Equal("old a", File.ReadAllText(Path.Combine(target, "a.txt")));
        Assert.Equal("old b", File.ReadAllText(Path.Combine(target, "sub", "b.txt")));
        Assert.Equal(["model"], Entries());

        using var cts = new CancellationTokenSource();
        Assert.ThrowsAny<OperationCanceledException>(() => AtomicFileWriter.WriteDirectory(target, _ => cts.Cancel(), cts.Token));
        Assert.Equal(["model"], Entries());

        // Success: files of the old folder that the new one lacks are gone, no backup or temporary is left.
        AtomicFileWriter.WriteDirectory(target, tmp => File.WriteAllText(Path.Combine(tmp, "c.txt"), "new c"));
        Assert.Equal(["c.txt"], Directory.GetFileSystemEntries(target).Select(e => Path.GetFileName(e)!).ToArray());
        Assert.Equal(["model"], Entries());
    }

    [Fact]
    public void FolderWriteAfterACrashBetweenTheTwoRenamesUsesAndThenDropsTheBackup()
    {
        string target = Path.Combine(_dir, "checkpoint"), backup = AtomicFileWriter.BackupPathOf(target);
        Assert.Equal(_dir, Path.GetDirectoryName(backup));
        AtomicFileWriter.WriteDirectory(target, tmp => File.WriteAllText(Path.Combine(tmp, "state"), "1"));
        Directory.Move(target, backup); // what a crash after the first rename leaves
        AtomicFileWriter.WriteDirectory(target, tmp => File.WriteAllText(Path.Combine(tmp, "state"), "2"));
        Assert.Equal("2", File.ReadAllText(Path.Combine(target, "state")));
        Assert.Equal(["checkpoint"], Entries());
    }

    [Fact]
    public void TargetsOfTheWrongKindAreClearErrors()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "folder"));
        File.WriteAllText(Path.Combine(_dir, "file"), "x");
        Assert.Contains("is a folder", Assert.Throws<IOException>(() => AtomicFileWriter.WriteAllText(Path.Combine(_dir, "folder"), "y")).Message);
        Assert.Contains("is a file", Assert.Throws<IOException>(() => AtomicFileWriter.WriteDirectory(Path.Combine(_dir, "file"), _ => { })).Message);
        Assert.Equal("x", File.ReadAllText(Path.Combine(_dir, "file")));
        Assert.Equal(["file", "folder"], Entries());
    }

    [Fact]
    public void Temporary_siblings_of_a_target_are_found_and_nothing_else()
    {
        string target = Path.Combine(_dir, "a.bin");
        string? during = null;
        IReadOnlyList<string>? seen = null;
        AtomicFileWriter.WriteFileAt(target, temp => { File.WriteAllText(temp, "x"); during = temp; seen = AtomicFileWriter.TemporarySiblingsOf(target); });
        Assert.Equal([during!], seen!); // the name the writer really uses while it writes
        Assert.Empty(AtomicFileWriter.TemporarySiblingsOf(target)); // and gone after the rename

        foreach (var name in new[] { ".a.bin.0a1b-4242-0123ab.tmp", ".a.bin2.0a1b-4242-0123ab.tmp", ".b.bin.0a1b-4242-0123ab.tmp", ".a.bin.old", ".a.bin.0a1b-4242-0123abc.tmp", "a.bin.0a1b-4242-0123ab.tmp", ".a.bin.0123abcd.tmp" })
            File.WriteAllText(Path.Combine(_dir, name), "left over");
        Assert.Equal([Path.Combine(_dir, ".a.bin.0a1b-4242-0123ab.tmp")], AtomicFileWriter.TemporarySiblingsOf(target));
        Assert.Empty(AtomicFileWriter.TemporarySiblingsOf(Path.Combine(_dir, "missing", "c.bin")));
    }
    [Fact]
    public void Stale_temporaries_of_dead_writers_are_swept_and_live_ones_kept()
    {
        // The real name a writer of this process uses, to take the host tag from.
        string? live = null;
        IReadOnlyList<string>? removedWhileWriting = null;
        AtomicFileWriter.WriteFileAt(Path.Combine(_dir, "own.bin"), temp =>
        {
            File.WriteAllText(temp, "being written");
            live = temp;
            removedWhileWriting = AtomicFileWriter.RemoveStaleTemporaries(_dir);
        });
        Assert.Empty(removedWhileWriting!); // this process's own temporary is live
        var parts = Path.GetFileName(live!).Split('.')[^2].Split('-');
        string host = parts[0], otherHost = host == "0000" ? "ffff" : "0000";

        using var dead = System.Diagnostics.Process.Start("true")!;
        dead.WaitForExit();
        using var running = System.Diagnostics.Process.Start("sleep", "60")!;
        try
        {
            string Name(string target, string h, int pid) => Path.Combine(_dir, $".{target}.{h}-{pid}-0123ab.tmp");
            File.WriteAllText(Name("dead.mp4", host, dead.Id), "x");
            Directory.CreateDirectory(Name("checkpoint", host, dead.Id));
            File.WriteAllText(Path.Combine(Name("checkpoint", host, dead.Id), "model.safetensors"), "x");
            File.WriteAllText(Name("live.mp4", host, running.Id), "x");
            File.WriteAllText(Name("reused.mp4", host, running.Id), "x");
            File.SetLastWriteTimeUtc(Name("reused.mp4", host, running.Id), DateTime.UtcNow.AddHours(-1)); // older than the process with that id
            File.WriteAllText(Name("elsewhere.mp4", otherHost, dead.Id), "x");
            File.WriteAllText(Path.Combine(_dir, ".notours.tmp"), "x");

            var removed = AtomicFileWriter.RemoveStaleTemporaries(_dir).Select(p => Path.GetFileName(p)!).Order(StringComparer.Ordinal).ToArray();
            Assert.Equal([Path.GetFileName(Name("checkpoint", host, dead.Id)), Path.GetFileName(Name("dead.mp4", host, dead.Id)), Path.GetFileName(Name("reused.mp4", host, running.Id))], removed);
            Assert.Equal([Path.GetFileName(Name("elsewhere.mp4", otherHost, dead.Id)), Path.GetFileName(Name("live.mp4", host, running.Id)), ".notours.tmp", "own.bin"], Entries());
        }
        finally
        {
            running.Kill();
            running.WaitForExit();
        }
    }
}
