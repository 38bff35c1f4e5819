using System.Diagnostics;
using static TorchSharp.torch;

namespace WfVae.Profiling;

/// <summary>
/// Opt-in instrumentation of the WF-VAE modules for the current async flow: counts the multiply-accumulates of
/// every convolution and attention matmul from the shapes actually run, and/or times named blocks (wavelets, each
/// down/up stage, mid + attention, norms). Inactive probes cost one null check per module call.
/// Block times are inclusive wall-clock seconds (CPU ops are synchronous); nested labels overlap their parents.
/// </summary>
public sealed class ModelProbe : IDisposable
{
    private static readonly AsyncLocal<ModelProbe?> s_current = new();
    private readonly ModelProbe? _previous;
    private readonly Dictionary<string, BlockStat> _blocks = new(StringComparer.Ordinal);
    private bool _disposed;

    // Peak-RSS bookkeeping: one running maximum (kB) per open block; a child folds its peak into its parent.
    private readonly Stack<long> _openPeaks = new();

    private ModelProbe(bool countMacs, bool timeBlocks, bool trackPeakRss)
    {
        CountsMacs = countMacs;
        TimesBlocks = timeBlocks || trackPeakRss;
        TracksPeakRss = trackPeakRss && ProcessMemory.ResetPeak();
        _previous = s_current.Value;
        s_current.Value = this;
    }

    /// <summary>Activates a probe on the current async flow until it is disposed.</summary>
    /// <param name="countMacs">Count convolution/attention multiply-accumulates.</param>
    /// <param name="timeBlocks">Time the named blocks.</param>
    /// <param name="trackPeakRss">
    /// Also record each block's peak resident set size (Linux VmHWM, reset at every block boundary; implies
    /// <paramref name="timeBlocks"/>). Ignored where <c>/proc/self/clear_refs</c> is unavailable.
    /// </param>
    public static ModelProbe Start(bool countMacs = true, bool timeBlocks = false, bool trackPeakRss = false) => new(countMacs, timeBlocks, trackPeakRss);

    /// <summary>Whether convolution/attention multiply-accumulates are counted.</summary>
    public bool CountsMacs { get; }
    /// <summary>Whether named blocks are timed.</summary>
    public bool TimesBlocks { get; }
    /// <summary>Whether each block's peak RSS is recorded (see <see cref="BlockPeakRssMb"/>).</summary>
    public bool TracksPeakRss { get; }
    /// <summary>Multiply-accumulates of all convolutions (including the Haar filters and q/k/v/proj 1×1 convs).</summary>
    public double ConvMacs { get; private set; }
    /// <summary>Multiply-accumulates of the attention matmuls (QKᵀ and AV).</summary>
    public double AttentionMacs { get; private set; }
    /// <summary>All multiply-accumulates.</summary>
    public double TotalMacs => ConvMacs + AttentionMacs;

    /// <summary>Per-label inclusive seconds and call counts, in first-seen order.</summary>
    public IReadOnlyList<(string Label, double Seconds, int Calls)> Blocks =>
        _blocks.OrderBy(kv => kv.Value.Order).Select(kv => (kv.Key, kv.Value.Seconds, kv.Value.Calls)).ToList();

    /// <summary>Per-label peak resident set size in MB over all calls (process-wide, so it includes the weights); empty unless <see cref="TracksPeakRss"/>.</summary>
    public IReadOnlyDictionary<string, double> BlockPeakRssMb =>
        _blocks.Where(kv => kv.Value.PeakRssKb > 0).ToDictionary(kv => kv.Key, kv => kv.Value.PeakRssKb / 1024.0, StringComparer.Ordinal);

    internal static ModelProbe? Current => s_current.Value;

    /// <summary>Records a convolution producing <paramref name="output"/> with <paramref name="macsPerOutput"/> MACs per output element.</summary>
    internal static void Conv(Tensor output, long macsPerOutput)
    {
        var p = s_current.Value;
        if (p is { CountsMacs: true }) p.ConvMacs += (double)output.numel() * macsPerOutput;
    }

    /// <summary>Records attention over <paramref name="groups"/> sequences of <paramref name="tokens"/> tokens of width <paramref name="channels"/>.</summary>
    internal static void Attention(long groups, long tokens, long channels)
    {
        var p = s_current.Value;
        if (p is { CountsMacs: true }) p.AttentionMacs += 2.0 * groups * tokens * tokens * channels;
    }

    /// <summary>Times the enclosed code under <paramref name="label"/> while a timing probe is active.</summary>
    internal static BlockTimer Time(string label)
    {
        var p = s_current.Value;
        return p is { TimesBlocks: true } ? new BlockTimer(p, label) : default;
    }

    private void Add(string label, double seconds, long peakRssKb)
    {
        if (!_blocks.TryGetValue(label, out var s)) _blocks[label] = s = new BlockStat { Order = _blocks.Count };
        s.Seconds += seconds;
        s.Calls++;
        s.PeakRssKb = Math.Max(s.PeakRssKb, peakRssKb);
    }

    private void EnterBlock()
    {
        // The enclosing block's peak so far is saved before the high-water mark is reset for this one.
        long hwm = ProcessMemory.PeakKb();
        if (_openPeaks.Count > 0) _openPeaks.Push(Math.Max(_openPeaks.Pop(), hwm));
        _openPeaks.Push(0);
        ProcessMemory.ResetPeak();
    }

    private long ExitBlock()
    {
        long peak = Math.Max(ProcessMemory.PeakKb(), _openPeaks.Count > 0 ? _openPeaks.Pop() : 0);
        if (_openPeaks.Count > 0) _openPeaks.Push(Math.Max(_openPeaks.Pop(), peak));
        ProcessMemory.ResetPeak();
        return peak;
    }

    /// <summary>Deactivates the probe (restores the previously active one, if any).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (ReferenceEquals(s_current.Value, this)) s_current.Value = _previous;
    }

    private sealed class BlockStat
    {
        public int Order;
        public double Seconds;
        public int Calls;
        public long PeakRssKb;
    }

    internal readonly struct BlockTimer : IDisposable
    {
        private readonly ModelProbe? _probe;
        private readonly string? _label;
        private readonly long _start;

        public BlockTimer(ModelProbe probe, string label)
        {
            _probe = probe;
            _label = label;
            if (probe.TracksPeakRss) probe.EnterBlock();
            _start = Stopwatch.GetTimestamp();
        }

        public void Dispose()
        {
            if (_probe is null) return;
            double seconds = Stopwatch.GetElapsedTime(_start).TotalSeconds;
            _probe.Add(_label!, seconds, _probe.TracksPeakRss ? _probe.ExitBlock() : 0);
        }
    }
}
