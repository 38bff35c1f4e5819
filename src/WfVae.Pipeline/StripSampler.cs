using WfVae.Video;

namespace WfVae.Pipeline;

/// <summary>A source frame and its reconstruction (packed rgb24), with the frame's index in the video.</summary>
public sealed record SampledFrame(long Index, byte[] Source, byte[] Reconstruction);

/// <summary>
/// An extra image drawn from a reconstruction's results (e.g. strips and a per-frame PSNR plot): its path is checked
/// before any work, and when writing it fails the video and strip of the same run are removed.
/// </summary>
/// <param name="Path">The file <paramref name="Write"/> creates (its folder is created).</param>
/// <param name="Write">Writes the file (atomically) from the result and up to 8 evenly spaced frame pairs.</param>
public sealed record ReconstructionReport(string Path, Action<string, ReconstructionResult, IReadOnlyList<SampledFrame>> Write);

/// <summary>
/// Keeps up to 2·n (source, reconstruction) frame pairs at evenly spaced indices of a stream of unknown length
/// (the spacing doubles whenever the buffer fills), then writes n of them, first to last, as one PNG strip.
/// </summary>
internal sealed class StripSampler(int count)
{
    private readonly List<(long Index, byte[] Source, byte[] Recon)> _kept = [];
    private long _spacing = 1;

    public void Offer(long index, byte[] source, byte[] recon)
    {
        if (index % _spacing != 0) return;
        _kept.Add((index, source, recon));
        if (_kept.Count < 2 * count) return;
        _spacing *= 2;
        _kept.RemoveAll(k => k.Index % _spacing != 0);
    }

    /// <summary>Up to n of the kept pairs, evenly spaced from the first frame to the last one kept.</summary>
    public IReadOnlyList<SampledFrame> Picks()
    {
        if (_kept.Count == 0) throw new InvalidOperationException("no frames were reconstructed, so there is no strip to write.");
        int n = Math.Min(count, _kept.Count);
        return Enumerable.Range(0, n).Select(i => _kept[(int)Math.Round(i * (_kept.Count - 1) / Math.Max(1.0, n - 1))])
            .Select(k => new SampledFrame(k.Index, k.Source, k.Recon)).ToList();
    }

    public void Write(string path, int height, int width)
    {
        // Source above reconstruction: rgb24 rows are contiguous, so stacking is concatenation.
        var stacked = Picks().Select(p => (byte[])[.. p.Source, .. p.Reconstruction]).ToList();
        VideoWriter.WriteFrameStripPng(path, stacked, 2 * height, width);
    }
}
