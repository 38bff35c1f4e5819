using System.Globalization;

namespace WfVae.Profiling;

/// <summary>The process's resident set size from Linux <c>/proc/self/status</c> (−1 / false elsewhere).</summary>
public static class ProcessMemory
{
    /// <summary>Current resident set size (VmRSS) in kB, or −1 when unavailable.</summary>
    public static long CurrentKb() => ReadKb("VmRSS:");

    /// <summary>Peak resident set size (VmHWM) since start or the last <see cref="ResetPeak"/>, in kB, or −1.</summary>
    public static long PeakKb() => ReadKb("VmHWM:");

    /// <summary>Resets VmHWM to the current RSS (writes 5 to <c>/proc/self/clear_refs</c>); false where that is not possible.</summary>
    public static bool ResetPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException) { return false; }
    }

    private static long ReadKb(string key)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith(key, StringComparison.Ordinal))
                    return long.Parse(line[key.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return -1;
    }
}
