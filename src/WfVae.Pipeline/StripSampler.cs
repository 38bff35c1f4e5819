using WfVae.Video;

namespace WfVae.Pipeline;

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

    public void Write(string path, int height, int width)
    {
        if (_kept.Count == 0) throw new InvalidOperationException("no frames were reconstructed, so there is no strip to write.");
        int n = Math.Min(count, _kept.Count);
        var picks = Enumerable.Range(0, n).Select(i => _kept[(int)Math.Round(i * (_kept.Count - 1) / Math.Max(1.0, n - 1))]).ToList();
        // Source above reconstruction: rgb24 rows are contiguous, so stacking is concatenation.
        var stacked = picks.Select(p => (byte[])[.. p.Source, .. p.Recon]).ToList();
        VideoWriter.WriteFrameStripPng(path, stacked, 2 * height, width);
    }
}
