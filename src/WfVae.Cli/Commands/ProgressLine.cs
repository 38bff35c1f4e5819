using System.Diagnostics;
using System.Globalization;
using WfVae.Pipeline;

namespace WfVae.Cli.Commands;

/// <summary>
/// Shows streaming progress on stderr: one line rewritten in place on a terminal, a plain line every few seconds
/// when stderr is redirected (logs, CI).
/// </summary>
internal sealed class ProgressLine(TextWriter writer) : IProgress<StreamingProgress>, IDisposable
{
    private static readonly TimeSpan PlainEvery = TimeSpan.FromSeconds(5), TerminalEvery = TimeSpan.FromMilliseconds(250);
    private readonly bool _terminal = !Console.IsErrorRedirected;
    private readonly Stopwatch _since = Stopwatch.StartNew();
    private StreamingProgress? _last, _written;
    private bool _open;

    public void Report(StreamingProgress value)
    {
        _last = value;
        if (_since.Elapsed < (_terminal ? TerminalEvery : PlainEvery)) return;
        _since.Restart();
        Write(value);
    }

    private void Write(StreamingProgress p)
    {
        _written = p;
        string total = p.FramesTotal is long t ? $"/{t}" : "";
        string eta = p.FramesTotal is long n && p.FramesPerSecond > 0 && n > p.FramesDone
            ? string.Create(CultureInfo.InvariantCulture, $", ETA {TimeSpan.FromSeconds(Math.Round((n - p.FramesDone) / p.FramesPerSecond)):c}") : "";
        string line = string.Create(CultureInfo.InvariantCulture, $"{p.Stage}: {p.FramesDone}{total} frames, {p.FramesPerSecond:F2} frames/s{eta}");
        if (_terminal) { writer.Write("\r" + line.PadRight(72)); _open = true; }
        else writer.WriteLine(line);
    }

    /// <summary>Writes the final state once.</summary>
    public void Finish()
    {
        if (_last is not null && !ReferenceEquals(_last, _written)) Write(_last);
        Dispose();
    }

    public void Dispose()
    {
        if (_open) writer.WriteLine();
        _open = false;
    }
}
