using System.Diagnostics;
using TorchSharp;
using WfVae.Modules;
using static TorchSharp.torch;

namespace WfVae.Profiling;

/// <summary>
/// Instrumentation attached to a model's modules from outside, as TorchSharp forward hooks: counts the
/// multiply-accumulates of every convolution and attention matmul from each module's weights and the shapes it
/// ran on, and/or times named blocks (wavelets, norms, attention, each encoder/decoder stage). Disposing the probe
/// removes its hooks; a model without a probe runs no profiling code.
/// Block times are inclusive wall-clock seconds (CPU ops are synchronous); nested labels overlap their parents.
/// While attached, the probe sees every forward of the model on any thread, and TorchSharp's hook lists are not
/// synchronised: attach and dispose it while no other thread runs the model.
/// </summary>
public sealed class ModelProbe : IDisposable
{
    // The stages of the bench profile: a label, the module (state-dict path) whose forward starts it and the one whose forward ends it.
    private static readonly (string Label, string First, string Last)[] Stages =
    [
        ("encoder.connect_l1", "encoder.connect_l1", "encoder.connect_l1"),
        ("encoder.connect_l2", "encoder.connect_l2", "encoder.connect_l2"),
        ("encoder.down1", "encoder.down1", "encoder.down1"),
        ("encoder.down2", "encoder.down2", "encoder.down2"),
        ("encoder.mid", "encoder.mid", "encoder.mid"),
        ("encoder.norm_out+conv_out", "encoder.norm_out", "encoder.conv_out"),
        ("decoder.conv_in", "decoder.conv_in", "decoder.conv_in"),
        ("decoder.mid", "decoder.mid", "decoder.mid"),
        ("decoder.connect_l2", "decoder.connect_l2", "decoder.connect_l2"),
        ("decoder.up2", "decoder.up2", "decoder.up2"),
        ("decoder.connect_l1", "decoder.connect_l1", "decoder.connect_l1"),
        ("decoder.up1", "decoder.up1", "decoder.up1"),
        ("decoder.layer", "decoder.layer", "decoder.layer"),
        ("decoder.norm_out+conv_out", "decoder.norm_out", "decoder.conv_out"),
    ];

    private readonly Dictionary<string, BlockStat> _blocks = new(StringComparer.Ordinal);
    private readonly List<OpenBlock> _open = [];
    private readonly List<Action> _removeHooks = [];
    private bool _disposed;

    private ModelProbe(nn.Module network, bool countMacs, bool timeBlocks, bool trackPeakRss)
    {
        CountsMacs = countMacs;
        TimesBlocks = timeBlocks || trackPeakRss;
        TracksPeakRss = trackPeakRss && ProcessMemory.ResetPeak();
        Hook(network, "", countedByParent: false);
    }

    /// <summary>Attaches a probe to <paramref name="model"/>'s modules until it is disposed.</summary>
    /// <param name="model">The model to observe (see the class remarks on threads).</param>
    /// <param name="countMacs">Count convolution/attention multiply-accumulates.</param>
    /// <param name="timeBlocks">Time the named blocks.</param>
    /// <param name="trackPeakRss">
    /// Also record each block's peak resident set size (Linux VmHWM, reset at every block boundary; implies
    /// <paramref name="timeBlocks"/>). Ignored where <c>/proc/self/clear_refs</c> is unavailable.
    /// </param>
    public static ModelProbe Attach(WfVaeModel model, bool countMacs = true, bool timeBlocks = false, bool trackPeakRss = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        return new(model.Network, countMacs, timeBlocks, trackPeakRss);
    }

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

    /// <summary>Per-label inclusive seconds and call counts, in the order the labels first completed.</summary>
    public IReadOnlyList<(string Label, double Seconds, int Calls)> Blocks =>
        _blocks.OrderBy(kv => kv.Value.Order).Select(kv => (kv.Key, kv.Value.Seconds, kv.Value.Calls)).ToList();

    /// <summary>Per-label peak resident set size in MB over all calls (process-wide, so it includes the weights); empty unless <see cref="TracksPeakRss"/>.</summary>
    public IReadOnlyDictionary<string, double> BlockPeakRssMb =>
        _blocks.Where(kv => kv.Value.PeakRssKb > 0).ToDictionary(kv => kv.Key, kv => kv.Value.PeakRssKb / 1024.0, StringComparer.Ordinal);

    /// <summary>Registers one pre- and one post-forward hook on every module that has something to record, depth first.</summary>
    private void Hook(nn.Module module, string path, bool countedByParent)
    {
        var opens = new List<string>();
        var closes = new List<string>();
        if (TimesBlocks)
        {
            opens.AddRange(Stages.Where(s => s.First == path).Select(s => s.Label));
            if (TypeLabel(module) is { } label)
            {
                opens.Add(label);
                closes.Add(label);
            }
            closes.AddRange(Stages.Where(s => s.Last == path).Select(s => s.Label).Reverse());
        }
        bool counts = CountsMacs && !countedByParent && CountsWork(module);
        if (opens.Count > 0 || closes.Count > 0 || counts)
        {
            void Before() { foreach (var l in opens) Open(l); }
            void After(Tensor input, Tensor output)
            {
                if (counts) Count(module, input, output);
                foreach (var l in closes) Close(l);
            }
            switch (module)
            {
                case CausalBlock block:
                    var pre = block.register_forward_pre_hook((_, _, _) => { Before(); return null; });
                    var post = block.register_forward_hook((_, x, _, y) => { After(x, y); return y; });
                    _removeHooks.Add(pre.remove);
                    _removeHooks.Add(post.remove);
                    break;
                case ChannelNorm norm:
                    var npre = norm.register_forward_pre_hook((_, x) => { Before(); return x; });
                    var npost = norm.register_forward_hook((_, x, y) => { After(x, y); return y; });
                    _removeHooks.Add(npre.remove);
                    _removeHooks.Add(npost.remove);
                    break;
            }
        }
        // Blocks whose inner convolutions may run fused or rewritten count their work themselves.
        bool childrenCounted = countedByParent || module is AttnBlock3DFix or Upsample2D;
        foreach (var (name, child) in module.named_children())
            Hook(child, path.Length == 0 ? name : path + "." + name, childrenCounted);
    }

    private static string? TypeLabel(nn.Module module) => module switch
    {
        HaarWavelet3D or InverseHaarWavelet3D or HaarWavelet2D or InverseHaarWavelet2D => "wavelets",
        ChannelNorm => "norms",
        AttnBlock3DFix => "attention",
        _ => null,
    };

    private static bool CountsWork(nn.Module module) => module is CausalConv3d or FrameConv2d or AttnBlock3DFix or Upsample2D
        or HaarWavelet3D or InverseHaarWavelet3D or HaarWavelet2D or InverseHaarWavelet2D;

    /// <summary>
    /// Convolutions: output elements × input channels per group × kernel volume; transposed convs (the inverse
    /// wavelets) by their input. Nominal work: as if replicated frames were convolved and no rewrite ran, so the
    /// counts match the official model's.
    /// </summary>
    private void Count(nn.Module module, Tensor input, Tensor output)
    {
        switch (module)
        {
            case CausalConv3d conv:
                ConvMacs += (double)output.numel() * PerOutput(conv.Weight);
                break;
            case FrameConv2d conv:
                ConvMacs += (double)output.numel() * PerOutput(conv.weight);
                break;
            case AttnBlock3DFix or Upsample2D:
                // Every inner conv (q, k, v, proj_out; the upsample's 3×3) produces an output the size of the block's.
                ConvMacs += (double)output.numel() * module.children().Sum(c => c switch
                {
                    CausalConv3d conv => PerOutput(conv.Weight),
                    FrameConv2d conv => PerOutput(conv.weight),
                    _ => 0,
                });
                if (module is AttnBlock3DFix)
                {
                    // QKᵀ and AV over the H·W tokens of each frame.
                    long b = output.shape[0], c = output.shape[1], t = output.shape[2], tokens = output.shape[3] * output.shape[4];
                    AttentionMacs += 2.0 * b * t * tokens * tokens * c;
                }
                break;
            case HaarWavelet3D or HaarWavelet2D:
                ConvMacs += (double)output.numel() * PerOutput(Filter(module));
                break;
            case InverseHaarWavelet3D or InverseHaarWavelet2D:
                ConvMacs += (double)input.numel() * PerOutput(Filter(module));
                break;
        }
    }

    /// <summary>One filter of a Haar filter bank (all have the same shape): a tap's weight or a buffer.</summary>
    private static Tensor Filter(nn.Module wavelet) =>
        wavelet.parameters().Cast<Tensor>().Concat(wavelet.buffers()).First();

    /// <summary>Multiply-accumulates per output element of a conv weight (O, I, k…): I × kernel volume.</summary>
    private static long PerOutput(Tensor weight)
    {
        long n = 1;
        for (int i = 1; i < weight.shape.Length; i++) n *= weight.shape[i];
        return n;
    }

    private void Open(string label)
    {
        if (TracksPeakRss)
        {
            // The enclosing block's peak so far is saved before the high-water mark is reset for this one.
            long hwm = ProcessMemory.PeakKb();
            if (_open.Count > 0) _open[^1].PeakRssKb = Math.Max(_open[^1].PeakRssKb, hwm);
            ProcessMemory.ResetPeak();
        }
        _open.Add(new OpenBlock(label, Stopwatch.GetTimestamp()));
    }

    private void Close(string label)
    {
        // A forward that threw skipped its post-hooks; blocks it left open are dropped.
        int i = _open.FindLastIndex(o => o.Label == label);
        if (i < 0) return;
        var block = _open[i];
        double seconds = Stopwatch.GetElapsedTime(block.Start).TotalSeconds;
        _open.RemoveRange(i, _open.Count - i);
        long peak = 0;
        if (TracksPeakRss)
        {
            peak = Math.Max(ProcessMemory.PeakKb(), block.PeakRssKb);
            if (_open.Count > 0) _open[^1].PeakRssKb = Math.Max(_open[^1].PeakRssKb, peak);
            ProcessMemory.ResetPeak();
        }
        if (!_blocks.TryGetValue(label, out var s)) _blocks[label] = s = new BlockStat { Order = _blocks.Count };
        s.Seconds += seconds;
        s.Calls++;
        s.PeakRssKb = Math.Max(s.PeakRssKb, peak);
    }

    /// <summary>Removes the probe's hooks from the model.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var remove in _removeHooks) remove();
        _removeHooks.Clear();
    }

    private sealed class BlockStat
    {
        public int Order;
        public double Seconds;
        public int Calls;
        public long PeakRssKb;
    }

    private sealed class OpenBlock(string label, long start)
    {
        public string Label { get; } = label;
        public long Start { get; } = start;
        public long PeakRssKb { get; set; }
    }
}
