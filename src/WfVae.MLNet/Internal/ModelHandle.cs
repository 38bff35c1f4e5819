namespace WfVae.MLNet;

/// <summary>The model a transformer uses: loaded from a folder (owned, disposed with the transformer) or shared by the caller.</summary>
internal sealed class ModelHandle : IDisposable
{
    private readonly WfVaeModel _model;
    private readonly bool _owned;
    private readonly string _owner;
    private int _disposed;

    private ModelHandle(WfVaeModel model, bool owned, string owner)
    {
        _model = model;
        _owned = owned;
        _owner = owner;
        Stamp = ModelStamp.Of(model);
    }

    /// <summary>Uses <paramref name="model"/>, or loads only <paramref name="components"/> from <paramref name="directory"/> (a stage needs one half).</summary>
    public static ModelHandle Open(string? directory, WfVaeModel? model, string device, string owner, WfVaeComponents components) =>
        model is not null
            ? new ModelHandle(model, owned: false, owner)
            : new ModelHandle(WfVaeModel.Load(directory!, WfVaeModel.ParseDevice(device), components), owned: true, owner);

    /// <summary>File stamp of the weights at load, to refuse saving after they changed on disk.</summary>
    public ModelStamp? Stamp { get; }

    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    public WfVaeModel Model
    {
        get
        {
            CheckAlive();
            return _model;
        }
    }

    public void CheckAlive()
    {
        if (IsDisposed) throw new ObjectDisposedException(_owner, $"This {_owner} was disposed; its WF-VAE model is freed.");
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0 && _owned)
            _model.Dispose();
    }
}
