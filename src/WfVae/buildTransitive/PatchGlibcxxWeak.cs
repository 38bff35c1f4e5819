using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
#if !WFVAE_LIBRARY
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
#endif

// One file, two users: MSBuild compiles it as the PatchGlibcxxWeak task (RoslynCodeTaskFactory); WfVae.dll compiles
// GlibcxxVersionNeeds from it (WFVAE_LIBRARY) for hosts that run no MSBuild targets (TorchNative.EnsureLoaded).
#if !WFVAE_LIBRARY

/// <summary>
/// Writes a copy of each ELF64 shared object with every GLIBCXX version need newer than Debian 12's libstdc++
/// marked weak, so glibc's loader accepts it. The source (a file in the NuGet cache) is only read; the copy is
/// written to a temporary sibling and renamed, so a failed patch never leaves half a file, and it is rewritten only
/// when the source changed. <see cref="Patched"/> holds the copies with the source items' metadata.
/// </summary>
public class PatchGlibcxxWeak : Task
{
    [Required] public ITaskItem[] Files { get; set; } = Array.Empty<ITaskItem>();

    /// <summary>Folder for the patched copies; each lands under its DestinationSubDirectory metadata.</summary>
    [Required] public string OutputDirectory { get; set; } = "";

    [Output] public ITaskItem[] Patched { get; private set; } = Array.Empty<ITaskItem>();

    public override bool Execute()
    {
        var patched = new List<ITaskItem>();
        foreach (var item in Files)
        {
            var source = item.GetMetadata("FullPath");
            var target = Path.GetFullPath(Path.Combine(OutputDirectory, item.GetMetadata("DestinationSubDirectory"), Path.GetFileName(source)));
            try
            {
                var src = new FileInfo(source);
                var dst = new FileInfo(target);
                if (!dst.Exists || dst.Length != src.Length || dst.LastWriteTimeUtc < src.LastWriteTimeUtc)
                {
                    byte[] b = File.ReadAllBytes(source);
                    int changed = GlibcxxVersionNeeds.MarkTooNewWeak(b);
                    Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                    string tmp = target + ".patching";
                    File.WriteAllBytes(tmp, b);
                    if (File.Exists(target)) File.Delete(target);
                    File.Move(tmp, target);
                    Log.LogMessage(MessageImportance.Normal, $"PatchGlibcxxWeak: {source} -> {target}: {changed} version need(s) marked weak");
                }
                var copy = new TaskItem(target);
                item.CopyMetadataTo(copy);
                patched.Add(copy);
            }
            catch (Exception e)
            {
                Log.LogError(null, "WFVAE004", null, source, 0, 0, 0, 0, $"cannot write a Debian-12-loadable copy of '{source}' to '{target}': {e.Message}");
            }
        }
        Patched = patched.ToArray();
        return !Log.HasLoggedErrors;
    }
}
#endif

/// <summary>Marks an ELF64 image's GLIBCXX version needs newer than Debian 12's libstdc++ (3.4.30) weak, in place.</summary>
internal static class GlibcxxVersionNeeds
{
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const ushort VerFlgWeak = 0x2;

    // Versions the oldest supported libstdc++ (Debian 12, GCC 12) provides; anything above is made weak.
    private static bool IsTooNew(string name)
    {
        if (!name.StartsWith("GLIBCXX_3.4.", StringComparison.Ordinal)) return false;
        return int.TryParse(name.Substring("GLIBCXX_3.4.".Length), out int minor) && minor > 30;
    }

    /// <summary>Returns how many version needs it marked weak; throws on anything but a little-endian ELF64 file.</summary>
    public static int MarkTooNewWeak(byte[] b)
    {
        if (b.Length < 64 || b[0] != 0x7f || b[1] != (byte)'E' || b[2] != (byte)'L' || b[3] != (byte)'F' || b[4] != 2 || b[5] != 1)
            throw new InvalidDataException("not a little-endian ELF64 file");
        ulong shoff = BitConverter.ToUInt64(b, 0x28);
        ushort shentsize = BitConverter.ToUInt16(b, 0x3A);
        ushort shnum = BitConverter.ToUInt16(b, 0x3C);
        int changed = 0;
        for (int i = 0; i < shnum; i++)
        {
            int sh = checked((int)shoff + i * shentsize);
            if (BitConverter.ToUInt32(b, sh + 4) != ShtGnuVerneed) continue;
            int secOff = checked((int)BitConverter.ToUInt64(b, sh + 0x18));
            uint link = BitConverter.ToUInt32(b, sh + 0x28);
            uint count = BitConverter.ToUInt32(b, sh + 0x2C); // sh_info = number of Verneed entries
            int strSh = checked((int)shoff + (int)link * shentsize);
            int strOff = checked((int)BitConverter.ToUInt64(b, strSh + 0x18));
            int vn = secOff;
            for (uint n = 0; n < count; n++)
            {
                ushort cnt = BitConverter.ToUInt16(b, vn + 2);
                int aux = vn + (int)BitConverter.ToUInt32(b, vn + 8);
                for (int a = 0; a < cnt; a++)
                {
                    string name = ReadCString(b, strOff + (int)BitConverter.ToUInt32(b, aux + 8));
                    ushort flags = BitConverter.ToUInt16(b, aux + 4);
                    if (IsTooNew(name) && (flags & VerFlgWeak) == 0)
                    {
                        BitConverter.GetBytes((ushort)(flags | VerFlgWeak)).CopyTo(b, aux + 4);
                        changed++;
                    }
                    aux += (int)BitConverter.ToUInt32(b, aux + 12);
                }
                vn += (int)BitConverter.ToUInt32(b, vn + 12);
            }
        }
        return changed;
    }

    private static string ReadCString(byte[] b, int off)
    {
        int end = off;
        while (b[end] != 0) end++;
        return Encoding.ASCII.GetString(b, off, end - off);
    }
}
