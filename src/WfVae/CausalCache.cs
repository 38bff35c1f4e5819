using static TorchSharp.torch;

namespace WfVae;

/// <summary>
/// State carried between the chunks of one video (the Causal Cache): the tail frames each causal conv needs
/// from the previous chunk, the temporal upsampler's held-back frame and pending energy-flow frames.
/// The caller owns it, so one model can serve many videos and threads at once; create one per video and
/// direction with <see cref="WfVaeModel.CreateEncoderCache"/> / <see cref="WfVaeModel.CreateDecoderCache"/>.
/// </summary>
public sealed class CausalCache : IDisposable
{
    private readonly Dictionary<object, Tensor?> _tensors = new(ReferenceEqualityComparer.Instance);
    private bool _disposed;

    internal CausalCache(CacheDirection direction, SpatialTiling? tiling = null) => (Direction, Tiling) = (direction, tiling);

    internal CacheDirection Direction { get; }

    /// <summary>Spatial tiling asked for this video (null: the model's <see cref="WfVaeInferenceOptions.Tiling"/>), fixed when the cache is made.</summary>
    internal SpatialTiling? Tiling { get; }

    /// <summary>The tiles of this video's frame size, chosen on the first chunk (null: whole frames).</summary>
    internal TilePlan? TilePlan { get; set; }

    /// <summary>One cache per tile, in the plan's order (the temporal loop runs inside each tile).</summary>
    internal CausalCache[]? TileCaches { get; set; }

    /// <summary>Number of chunks processed so far.</summary>
    public int ChunksProcessed { get; internal set; }

    /// <summary>Input frames (video frames for encode, latent frames for decode) processed so far.</summary>
    public long FramesProcessed { get; internal set; }

    /// <summary>True once the last chunk was processed; the cache cannot be used again.</summary>
    public bool Completed { get; internal set; }

    /// <summary>(batch, H, W) of the first chunk; later chunks must match.</summary>
    internal long[]? FrameShape { get; set; }

    /// <summary>Set during the call that processes the final chunk (flushes held-back frames).</summary>
    internal bool IsLastChunk { get; set; }

    /// <summary>Whether <paramref name="owner"/> has seen a previous chunk.</summary>
    internal bool HasState(object owner) => _tensors.ContainsKey(owner);

    /// <summary>Returns the stored tensor (null if the owner stored "nothing, but started").</summary>
    internal Tensor? Get(object owner) => _tensors.TryGetValue(owner, out var t) ? t : null;

    /// <summary>Stores a copy of <paramref name="value"/> that lives outside every dispose scope; frees the old one.</summary>
    internal void Set(object owner, Tensor? value)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Tensor? kept = null;
        if (value is not null && value.shape[2] > 0)
        {
            // The detached alias shares the source's storage (often a whole padded chunk): dispose it now, or the
            // enclosing dispose scope would keep that storage alive until the chunk ends.
            using var detached = value.detach();
            kept = detached.clone().DetachFromDisposeScope();
        }
        if (_tensors.TryGetValue(owner, out var old)) old?.Dispose();
        _tensors[owner] = kept;
    }

    /// <summary>Bytes held by cached tensors.</summary>
    public long BytesHeld => _tensors.Values.Where(t => t is not null).Sum(t => t!.numel() * t.ElementSize) + (TileCaches?.Sum(c => c.BytesHeld) ?? 0);

    /// <summary>Frees every cached tensor.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var t in _tensors.Values) t?.Dispose();
        _tensors.Clear();
        foreach (var c in TileCaches ?? []) c.Dispose();
    }
}

internal enum CacheDirection { Encode, Decode }
