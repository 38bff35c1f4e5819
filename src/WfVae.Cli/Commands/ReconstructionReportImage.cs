using System.Globalization;
using SkiaSharp;
using WfVae.Files;
using WfVae.Metrics;
using WfVae.Pipeline;

namespace WfVae.Cli.Commands;

/// <summary>
/// The <c>--report</c> PNG of <c>wfvae reconstruct</c>: a title with the run's figures, the sampled input frames over
/// their reconstructions (each labelled with its frame number and PSNR), and the per-frame PSNR plot (ScottPlot).
/// </summary>
internal static class ReconstructionReportImage
{
    private const int Margin = 16, CellHeight = 128, MaxCellWidth = 256, LabelHeight = 20, TitleHeight = 52, PlotHeight = 300, MinWidth = 720;
    private static readonly SKColor Ink = new(0x20, 0x20, 0x20), Faint = new(0x70, 0x70, 0x70);

    /// <summary>Draws the report and writes it atomically to <paramref name="path"/>.</summary>
    public static void Write(string path, string title, ReconstructionResult result, IReadOnlyList<SampledFrame> frames, CancellationToken ct)
    {
        using var png = Render(title, result, frames);
        AtomicFileWriter.WriteFile(path, s => png.SaveTo(s), ct);
    }

    /// <summary>The report as PNG bytes.</summary>
    public static SKData Render(string title, ReconstructionResult result, IReadOnlyList<SampledFrame> frames)
    {
        ArgumentNullException.ThrowIfNull(result);
        if (frames.Count == 0) throw new ArgumentException("the report needs at least one sampled frame.", nameof(frames));
        int w = result.Width, h = result.Height;
        // Frames are shown CellHeight pixels high (small frames enlarged, large ones reduced), never wider than MaxCellWidth.
        double scale = Math.Min((double)CellHeight / h, (double)MaxCellWidth / w);
        int cellW = Math.Max(1, (int)Math.Round(w * scale)), cellH = Math.Max(1, (int)Math.Round(h * scale));
        int stripWidth = frames.Count * cellW + (frames.Count - 1) * 4;
        int width = Math.Max(MinWidth, stripWidth + 2 * Margin);
        int rowBlock = LabelHeight + cellH + LabelHeight;
        int height = TitleHeight + 2 * rowBlock + Margin + PlotHeight + Margin;

        using var surface = SKSurface.Create(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul))
            ?? throw new InvalidOperationException($"could not create a {width}x{height} drawing surface for the report.");
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        // The plot first: ScottPlot fills the whole canvas with its background before drawing into its rectangle.
        int plotTop = TitleHeight + 2 * rowBlock + Margin;
        PsnrPlot(result, frames).Render(canvas, new ScottPlot.PixelRect(Margin, width - Margin, plotTop + PlotHeight, plotTop));
        using var typeface = SKTypeface.Default;
        using var titleFont = new SKFont(typeface, 17) { Embolden = true };
        using var labelFont = new SKFont(typeface, 13);
        using var ink = new SKPaint { Color = Ink, IsAntialias = true };
        using var faint = new SKPaint { Color = Faint, IsAntialias = true };

        canvas.DrawText(title, Margin, 24, SKTextAlign.Left, titleFont, ink);
        string ssim = result.SsimPerFrame is null ? "n/a" : result.Ssim.ToString("F4", CultureInfo.InvariantCulture);
        canvas.DrawText(string.Create(CultureInfo.InvariantCulture,
                $"{result.Frames} frames of {w}x{h}   mean PSNR {result.Psnr:F2} dB   lowest {Finite(result.PsnrPerFrame.Min()):F2} dB   SSIM {ssim}   {result.Elapsed.TotalSeconds:F1} s"),
            Margin, 44, SKTextAlign.Left, labelFont, faint);

        var sampling = scale >= 1 ? new SKSamplingOptions(SKFilterMode.Nearest) : new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear);
        int left = (width - stripWidth) / 2;
        for (int row = 0; row < 2; row++)
        {
            int top = TitleHeight + row * rowBlock;
            canvas.DrawText(row == 0 ? "input" : "reconstruction", left, top + 15, SKTextAlign.Left, labelFont, ink);
            for (int i = 0; i < frames.Count; i++)
            {
                var f = frames[i];
                float x = left + i * (cellW + 4), y = top + LabelHeight;
                using var image = FromRgb24(row == 0 ? f.Source : f.Reconstruction, w, h);
                canvas.DrawImage(image, new SKRect(x, y, x + cellW, y + cellH), sampling);
                string label = row == 0
                    ? string.Create(CultureInfo.InvariantCulture, $"frame {f.Index}")
                    : f.Index < result.PsnrPerFrame.Length ? string.Create(CultureInfo.InvariantCulture, $"{Finite(result.PsnrPerFrame[f.Index]):F1} dB") : "";
                canvas.DrawText(label, x + cellW / 2f, y + cellH + 15, SKTextAlign.Center, labelFont, row == 0 ? ink : faint);
            }
        }

        using var snapshot = surface.Snapshot();
        return snapshot.Encode(SKEncodedImageFormat.Png, 100)
            ?? throw new InvalidOperationException("could not encode the report as PNG.");
    }

    private static ScottPlot.Plot PsnrPlot(ReconstructionResult result, IReadOnlyList<SampledFrame> frames)
    {
        var plot = new ScottPlot.Plot();
        double[] xs = Enumerable.Range(0, result.PsnrPerFrame.Length).Select(i => (double)i).ToArray();
        double[] ys = result.PsnrPerFrame.Select(Finite).ToArray();
        var line = plot.Add.Scatter(xs, ys);
        line.LegendText = "PSNR per frame";
        line.MarkerSize = xs.Length > 200 ? 0 : 4;
        line.LineWidth = 1.5f;
        var shown = frames.Where(f => f.Index < ys.Length).ToList();
        var marks = plot.Add.Markers(shown.Select(f => (double)f.Index).ToArray(), shown.Select(f => ys[f.Index]).ToArray());
        marks.MarkerSize = 9;
        marks.MarkerShape = ScottPlot.MarkerShape.OpenCircle;
        marks.LegendText = "frames shown above";
        var mean = plot.Add.HorizontalLine(result.Psnr);
        mean.LinePattern = ScottPlot.LinePattern.Dashed;
        mean.LegendText = string.Create(CultureInfo.InvariantCulture, $"mean {result.Psnr:F2} dB");
        plot.Title("PSNR per frame");
        plot.XLabel("frame");
        plot.YLabel("PSNR (dB)");
        plot.ShowLegend(ScottPlot.Alignment.LowerRight);
        if (xs.Length == 1) plot.Axes.SetLimitsX(-1, 1);
        return plot;
    }

    // Identical frames have infinite PSNR; they are drawn at the metric's cap.
    private static double Finite(double psnr) => double.IsPositiveInfinity(psnr) ? VideoMetrics.IdenticalPsnr : psnr;

    private static SKImage FromRgb24(byte[] rgb, int width, int height)
    {
        var rgba = new byte[width * height * 4];
        for (int p = 0, q = 0; p < rgb.Length; p += 3, q += 4)
        {
            rgba[q] = rgb[p];
            rgba[q + 1] = rgb[p + 1];
            rgba[q + 2] = rgb[p + 2];
            rgba[q + 3] = 255;
        }
        return SKImage.FromPixelCopy(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque), rgba, width * 4)
            ?? throw new InvalidOperationException($"could not make a {width}x{height} image of a frame.");
    }
}
