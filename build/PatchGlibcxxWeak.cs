using System;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

/// <summary>
/// Marks every GLIBCXX version need newer than the host's libstdc++ as weak in an ELF64 shared object,
/// so glibc's loader accepts it. Writes a copy first and renames, so a failed patch never leaves half a file.
/// </summary>
public class PatchGlibcxxWeak : Task
{
    [Required] public ITaskItem[] Files { get; set; } = Array.Empty<ITaskItem>();

    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const ushort VerFlgWeak = 0x2;

    public override bool Execute()
    {
        foreach (var item in Files)
        {
            var path = item.GetMetadata("FullPath");
            try
            {
                int changed = Patch(path);
                if (changed > 0) Log.LogMessage(MessageImportance.Normal, $"PatchGlibcxxWeak: {path}: {changed} version need(s) marked weak");
            }
            catch (Exception e)
            {
                Log.LogError($"PatchGlibcxxWeak: cannot patch '{path}': {e.Message}");
            }
        }
        return !Log.HasLoggedErrors;
    }

    // Versions the oldest supported libstdc++ (Debian 12, GCC 12) provides; anything above is made weak.
    private static bool IsTooNew(string name)
    {
        if (!name.StartsWith("GLIBCXX_3.4.", StringComparison.Ordinal)) return false;
        return int.TryParse(name.Substring("GLIBCXX_3.4.".Length), out int minor) && minor > 30;
    }

    private static int Patch(string path)
    {
        byte[] b = File.ReadAllBytes(path);
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
        if (changed > 0)
        {
            string tmp = path + ".patching";
            File.WriteAllBytes(tmp, b);
            // Delete-then-move replaces the directory entry, so a hard link into the NuGet cache is never written through.
            File.Delete(path);
            File.Move(tmp, path);
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
