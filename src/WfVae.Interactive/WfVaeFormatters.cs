using System.Globalization;
using System.Net;
using Microsoft.DotNet.Interactive.Formatting;
using WfVae.Video;
using static TorchSharp.torch;

namespace WfVae.Interactive;

/// <summary>
/// Registers how WfVae values show in .NET Interactive: a video tensor (1, 3, T, H, W) or a <see cref="VideoStrip"/>
/// as a PNG frame strip, any other tensor and a <see cref="LatentDistribution"/> as shape and statistics, a ScottPlot
/// <see cref="ScottPlot.Plot"/> as a PNG. The package's extension script calls <see cref="Register"/>.
/// </summary>
public static class WfVaeFormatters
{
    /// <summary>Strips are enlarged (nearest neighbour, whole factors) until a row is at least this many pixels tall.</summary>
    public const int MinRowPixels = 96;

    /// <summary>Size of a shown plot, in pixels.</summary>
    public static (int Width, int Height) PlotSize { get; set; } = (640, 360);

    private static readonly object s_gate = new();
    private static bool s_registered;

    /// <summary>Registers the formatters (once; later calls do nothing). Also makes sure libtorch loads (<see cref="TorchNative.EnsureLoaded"/>).</summary>
    public static void Register()
    {
        lock (s_gate)
        {
            if (s_registered) return;
            TorchNative.EnsureLoaded();
            Formatter.Register<VideoStrip>((strip, writer) => writer.Write(StripHtml(strip)), HtmlFormatter.MimeType);
            Formatter.Register<VideoStrip>(strip => $"{string.Join(" above ", strip.Rows)}: {Describe(strip.Video)}", PlainTextFormatter.MimeType);
            Formatter.Register<ScottPlot.Plot>(p => $"plot: {p.Axes.Title.Label.Text}", PlainTextFormatter.MimeType);
            Formatter.Register<Tensor>((t, writer) => writer.Write(VideoStrip.IsVideo(t) ? StripHtml(new VideoStrip(t)) : TensorHtml(t)), HtmlFormatter.MimeType);
            Formatter.Register<Tensor>(Describe, PlainTextFormatter.MimeType);
            Formatter.Register<LatentDistribution>((d, writer) => writer.Write(LatentHtml(d)), HtmlFormatter.MimeType);
            Formatter.Register<LatentDistribution>(d => $"latent distribution: mean {Describe(d.Mean)}; logvar {Describe(d.LogVar)}", PlainTextFormatter.MimeType);
            Formatter.Register<ScottPlot.Plot>((p, writer) => writer.Write(PlotHtml(p)), HtmlFormatter.MimeType);
            foreach (var type in new[] { typeof(VideoStrip), typeof(Tensor), typeof(LatentDistribution), typeof(ScottPlot.Plot) })
                Formatter.SetPreferredMimeTypesFor(type, HtmlFormatter.MimeType, PlainTextFormatter.MimeType);
            s_registered = true;
        }
    }

    /// <summary>The strip's PNG: sampled frames left to right, its rows top to bottom, enlarged to <see cref="MinRowPixels"/>.</summary>
    public static byte[] StripPng(VideoStrip strip, out IReadOnlyList<long> frameIndices)
    {
        ArgumentNullException.ThrowIfNull(strip);
        using var scope = NewDisposeScope();
        var video = strip.Video.detach().cpu().to(ScalarType.Float32);
        long t = video.shape[2], rowHeight = video.shape[3] / strip.Rows.Count;
        int n = (int)Math.Min(t, VideoStrip.MaxFrames);
        long[] picks = Enumerable.Range(0, n).Select(i => n == 1 ? 0L : (long)Math.Round(i * (t - 1) / (double)(n - 1))).ToArray();
        frameIndices = picks;
        var sampled = video.index_select(2, tensor(picks));
        int factor = (int)Math.Max(1, (MinRowPixels + rowHeight - 1) / rowHeight);
        if (factor > 1) sampled = sampled.repeat_interleave(factor, dim: 3).repeat_interleave(factor, dim: 4);
        var frames = FrameTensors.ToRgb24(sampled);
        return VideoWriter.EncodeFrameStripPng(frames, (int)sampled.shape[3], (int)sampled.shape[4]);
    }

    private static string StripHtml(VideoStrip strip)
    {
        byte[] png = StripPng(strip, out var picks);
        var s = strip.Video.shape;
        string rows = strip.Rows.Count == 1 ? strip.Rows[0] : string.Join(" above ", strip.Rows);
        string shape = $"({s[0]}, {s[1]}, {s[2]}, {s[3] / strip.Rows.Count}, {s[4]})";
        return $"<div class=\"wfvae-strip\"><img src=\"data:image/png;base64,{Convert.ToBase64String(png)}\" alt=\"{Html(rows)}\" style=\"image-rendering: pixelated\"/>"
             + $"<div><code>{Html(rows)}: video {shape} {strip.Video.dtype}, frames {string.Join(", ", picks)} of {s[2]}</code></div></div>";
    }

    private static string TensorHtml(Tensor t) => $"<div class=\"wfvae-tensor\"><code>{Html(Describe(t))}</code></div>";

    private static string LatentHtml(LatentDistribution d) =>
        "<table class=\"wfvae-latent\"><tr><th></th><th>shape</th><th>mean</th><th>std</th><th>min</th><th>max</th><th>finite</th></tr>"
        + Row("latent mean", d.Mean) + Row("log-variance", d.LogVar) + "</table>";

    private static string Row(string name, Tensor t)
    {
        var s = Stats(t);
        return $"<tr><td>{name}</td><td><code>({string.Join(", ", t.shape)})</code></td><td>{F(s.Mean)}</td><td>{F(s.Std)}</td><td>{F(s.Min)}</td><td>{F(s.Max)}</td><td>{(s.Finite ? "yes" : "NO")}</td></tr>";
    }

    /// <summary>One line: shape, type, device and (for floating-point tensors) mean, std, min, max and whether all are finite.</summary>
    public static string Describe(Tensor t)
    {
        ArgumentNullException.ThrowIfNull(t);
        string head = $"tensor ({string.Join(", ", t.shape)}) {t.dtype} on {t.device}";
        if (!t.is_floating_point() || t.numel() == 0) return head;
        var s = Stats(t);
        return $"{head}: mean {F(s.Mean)}, std {F(s.Std)}, min {F(s.Min)}, max {F(s.Max)}{(s.Finite ? "" : ", NOT ALL FINITE")}";
    }

    private static (double Mean, double Std, double Min, double Max, bool Finite) Stats(Tensor t)
    {
        using var scope = NewDisposeScope();
        var v = t.detach().cpu().to(ScalarType.Float64);
        bool finite = v.isfinite().all().item<bool>();
        return (v.mean().item<double>(), v.numel() > 1 ? v.std().item<double>() : 0, v.min().item<double>(), v.max().item<double>(), finite);
    }

    private static string PlotHtml(ScottPlot.Plot plot)
    {
        byte[] png = plot.GetImageBytes(PlotSize.Width, PlotSize.Height, ScottPlot.ImageFormat.Png);
        return $"<div class=\"wfvae-plot\"><img src=\"data:image/png;base64,{Convert.ToBase64String(png)}\"/></div>";
    }

    private static string F(double v) => v.ToString("G4", CultureInfo.InvariantCulture);
    private static string Html(string s) => WebUtility.HtmlEncode(s);
}
