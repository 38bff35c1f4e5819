using System.Diagnostics;
using System.Runtime.InteropServices;

namespace WfVae.Diagnostics;

/// <summary>
/// Debug switch of libtorch's CPU allocator (c10's <c>caffe2_cpu_allocator_do_junk_fill</c> flag): every buffer it
/// allocates from then on is filled with the pattern 0x7fedbeef, a NaN as float32, so an element read before it is
/// written turns into NaN instead of whatever the previous owner of that memory left there. Process-wide, because
/// the allocator is; slows allocation, so it is for tests and debugging only.
/// </summary>
public static class NativeAllocatorPoison
{
    private const string FlagSymbol = "FLAGS_caffe2_cpu_allocator_do_junk_fill";
    private static readonly object s_gate = new();
    private static IntPtr s_flag;

    /// <summary>Whether fresh CPU tensors are filled with NaN now.</summary>
    public static bool Enabled
    {
        get { lock (s_gate) return s_flag != IntPtr.Zero && Marshal.ReadByte(s_flag) != 0; }
    }

    /// <summary>Turns the fill on or off; throws when the loaded libtorch does not export the flag.</summary>
    public static void Set(bool enabled)
    {
        lock (s_gate)
        {
            if (s_flag == IntPtr.Zero) s_flag = FindFlag();
            Marshal.WriteByte(s_flag, enabled ? (byte)1 : (byte)0);
        }
    }

    private static IntPtr FindFlag()
    {
        _ = TorchSharp.torch.get_num_threads(); // makes TorchSharp load libtorch (and so libc10)
        foreach (ProcessModule m in Process.GetCurrentProcess().Modules)
        {
            string name = Path.GetFileName(m.FileName);
            if (!name.StartsWith("libc10.", StringComparison.Ordinal) && !name.Equals("c10.dll", StringComparison.OrdinalIgnoreCase)) continue;
            var lib = NativeLibrary.Load(m.FileName);
            if (NativeLibrary.TryGetExport(lib, FlagSymbol, out var flag)) return flag;
            throw new NotSupportedException($"'{m.FileName}' does not export {FlagSymbol}; this libtorch build cannot poison fresh buffers.");
        }
        throw new NotSupportedException("libc10 is not loaded in this process; TorchSharp found no libtorch backend.");
    }
}
