using System.Diagnostics;
using System.Globalization;
using WfVae.Datasets;
using WfVae.Pipeline;

namespace WfVae.Cli.Commands;

/// <summary>
/// Shows progress on stderr: one line rewritten in place on a terminal, a plain line every few seconds when stderr
/// is redirected (logs, CI).
/// </summary>
internal sealed class ProgressLine<T>(TextWriter writer, Func<T, string> format) : IProgress<T>, IDisposable where T : class
{
    private static readonly TimeSpan PlainEvery = TimeSpan.FromSeconds(5), TerminalEvery = TimeSpan.FromMilliseconds(250);
    private readonly bool _terminal = !Console.IsErrorRedirected;
    private readonly Stopwatch _since = Stopwatch.StartNew();
    private readonly Lock _lock = new();
    private T? _last, _written;
    private bool _open;

    public void Report(T value)
    {
        lock (_lock)
        {
            _last = value;
            if (_since.Elapsed < (_terminal ? TerminalEvery : PlainEvery)) return;
            _since.Restart();
            Write(value);
        }
    }

    private void Write(T p)
    {
        _written = p;
        string line = format(p);
        if (_terminal) { writer.Write("\r" + line.PadRight(72)); _open = true; }
        else writer.WriteLine(line);
    }

    /// <summary>Writes the final state once.</summary>
    public void Finish()
    {
        lock (_lock)
        {
            if (_last is not null && !ReferenceEquals(_last, _written)) Write(_last);
        }
        Dispose();
    }

    public void Dispose()
    {
        if (_open) writer.WriteLine();
        _open = false;
    }
}

/// <summary>The progress lines of the commands.</summary>
internal static class ProgressLine
{
    /// <summary>"encode: 48/129 frames, 2.71 frames/s, ETA 00:00:30".</summary>
    public static ProgressLine<StreamingProgress> Frames(TextWriter writer) => new(writer, p =>
    {
        string total = p.FramesTotal is long t ? $"/{t}" : "";
        string eta = p.FramesTotal is long n && p.FramesPerSecond > 0 && n > p.FramesDone
            ? string.Create(CultureInfo.InvariantCulture, $", ETA {TimeSpan.FromSeconds(Math.Round((n - p.FramesDone) / p.FramesPerSecond)):c}") : "";
        return string.Create(CultureInfo.InvariantCulture, $"{p.Stage}: {p.FramesDone}{total} frames, {p.FramesPerSecond:F2} frames/s{eta}");
    });

    /// <summary>"dataset: 120/640 clips (2 failed), shard 1/3, 1.85 clips/s, ETA 00:04:41".</summary>
    public static ProgressLine<DatasetProgress> Clips(TextWriter writer) => new(writer, p =>
    {
        string eta = p.Eta is { } e ? string.Create(CultureInfo.InvariantCulture, $", ETA {TimeSpan.FromSeconds(Math.Round(e.TotalSeconds)):c}") : "";
        return string.Create(CultureInfo.InvariantCulture,
            $"dataset: {p.ClipsDone}/{p.ClipsTotal} clips ({p.ClipsFailed} failed), {p.ShardsDone}/{p.ShardsTotal} shards, {p.ClipsPerSecond:F2} clips/s{eta}");
    });
}
