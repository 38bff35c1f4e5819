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

    private ModelProbe(bool countMacs, bool timeBlocks)
    {
        CountsMacs = countMacs;
        TimesBlocks = timeBlocks;
        _previous = s_current.Value;
        s_current.Value = this;
    }

    /// <summary>Activates a probe on the current async flow until it is disposed.</summary>
    public static ModelProbe Start(bool countMacs = true, bool timeBlocks = false) => new(countMacs, timeBlocks);

    /// <summary>Whether convolution/attention multiply-accumulates are counted.</summary>
    public bool CountsMacs { get; }
    /// <summary>Whether named blocks are timed.</summary>
    public bool TimesBlocks { get; }
    /// <summary>Multiply-accumulates of all convolutions (including the Haar filters and q/k/v/proj 1×1 convs).</summary>
    public double ConvMacs { get; private set; }
    /// <summary>Multiply-accumulates of the attention matmuls (QKᵀ and AV).</summary>
    public double AttentionMacs { get; private set; }
    /// <summary>All multiply-accumulates.</summary>
    public double TotalMacs => ConvMacs + AttentionMacs;

    /// <summary>Per-label inclusive seconds and call counts, in first-seen order.</summary>
    public IReadOnlyList<(string Label, double Seconds, int Calls)> Blocks =>
        _blocks.OrderBy(kv => kv.Value.Order).Select(kv => (kv.Key, kv.Value.Seconds, kv.Value.Calls)).ToList();

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

    private void Add(string label, double seconds)
    {
        if (!_blocks.TryGetValue(label, out var s)) _blocks[label] = s = new BlockStat { Order = _blocks.Count };
        s.Seconds += seconds;
        s.Calls++;
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
            _start = Stopwatch.GetTimestamp();
        }

        public void Dispose() => _probe?.Add(_label!, Stopwatch.GetElapsedTime(_start).TotalSeconds);
    }
}
