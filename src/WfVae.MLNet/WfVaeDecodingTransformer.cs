using Microsoft.ML;
using Microsoft.ML.Data;
using WfVae.MLNet.Persistence;

namespace WfVae.MLNet;

/// <summary>
/// Decodes a WF-VAE latent column into a video column <c>VectorDataViewType(Single, 3, T, H, W)</c>. Created by
/// <see cref="WfVaeDecodingEstimator.Fit"/>. Lazy, thread-safe, saveable and disposable like <see cref="WfVaeEncodingTransformer"/>.
/// </summary>
public sealed class WfVaeDecodingTransformer : ITransformer, ICanSaveModel, IDisposable
{
    private readonly ModelHandle _model;
    private readonly DecodingMapping _mapping;

    internal WfVaeDecodingTransformer(WfVaeDecoderOptions options, DataViewSchema inputSchema)
    {
        Names.FindInput(inputSchema, options.InputColumnName);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        _model = ModelHandle.Open(options.ModelDirectory, options.Model, options.Device, nameof(WfVaeDecodingTransformer), WfVaeComponents.Decoder);
        var log = StageLog.For(options.Log, DecodingMapping.Stage);
        try
        {
            _mapping = DecodingMapping.Create(options, _model.Model.Config.LatentDim, _model.Model.ShapeRules, inputSchema, () => _model.Model);
            _mapping.Log = log;
            log?.ModelReady(_model.Model, loaded: options.Model is null, clock.Elapsed);
        }
        catch
        {
            _model.Dispose();
            throw;
        }
        Options = options;
    }

    /// <summary>The options the stage was created with.</summary>
    public WfVaeDecoderOptions Options { get; }

    /// <summary>The model that decodes the rows.</summary>
    public WfVaeModel Model => _model.Model;

    /// <summary>The latent input column.</summary>
    public string InputColumnName => _mapping.InputColumnName;

    /// <summary>The decoded-video column.</summary>
    public string OutputColumnName => _mapping.Outputs[0].Name;

    /// <summary>Decoded (3, T, H, W) of every row, or null when it depends on the row (then the video column is variable-size).</summary>
    public IReadOnlyList<int>? VideoShape => _mapping.Outputs[0].Type.IsKnownSize ? [.. _mapping.Outputs[0].Type.Dimensions] : null;

    /// <summary>True: the transformer maps rows one by one.</summary>
    public bool IsRowToRowMapper => true;

    /// <summary>The schema <see cref="Transform"/> produces for <paramref name="inputSchema"/>; throws ML.NET's schema errors.</summary>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) =>
        MappedStage.OutputSchema(_model, _mapping, inputSchema);

    /// <summary>A row-to-row mapper over <paramref name="inputSchema"/>.</summary>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) =>
        MappedStage.RowToRowMapper(_model, _mapping, inputSchema);

    /// <summary>Adds the decoded-video column to <paramref name="input"/>, lazily.</summary>
    public IDataView Transform(IDataView input) =>
        MappedStage.Transform(_model, _mapping, input);

    /// <summary>Saves the stage as a chain of public ML.NET stages recording the model folder and sha256; see <see cref="WfVaeEncodingTransformer"/>.</summary>
    void ICanSaveModel.Save(ModelSaveContext ctx)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        var stage = new SavedStage
        {
            Model = WfVaeModelRegistry.Describe(_model.Model, _model.Stamp),
            Column = _mapping.InputColumnName,
            ErrorColumn = _mapping.ErrorColumnName,
            Version = SavedStage.VersionFor(_mapping.ErrorColumnName),
            Decode = _mapping.Plan,
        };
        var chain = SavedPipelines.Build(stage, _mapping.InputColumnName, _mapping.FittedInputType, _mapping.Outputs, latentParts: 1, pooledLength: 0);
        ((ICanSaveModel)chain).Save(ctx);
    }

    /// <summary>Frees the model's native memory if the transformer loaded it.</summary>
    public void Dispose() => _model.Dispose();
}
