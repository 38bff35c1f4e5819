namespace WfVae.Tests;

/// <summary>Sends a signal in-process: spawning kill(1) adds tens of milliseconds of race to a signal test.</summary>
internal static class Posix
{
    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);

    /// <summary>Sends SIG<paramref name="name"/> (INT, TERM or KILL) to <paramref name="pid"/>.</summary>
    public static void Send(int pid, string name)
    {
        int sig = name switch { "INT" => 2, "KILL" => 9, "TERM" => 15, _ => throw new ArgumentException($"unknown signal '{name}'; use INT, TERM or KILL.", nameof(name)) };
        if (kill(pid, sig) != 0) throw new InvalidOperationException($"kill({pid}, SIG{name}) failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
    }
}
