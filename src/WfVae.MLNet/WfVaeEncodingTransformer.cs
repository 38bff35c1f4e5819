using Microsoft.ML;
using Microsoft.ML.Data;
using WfVae.MLNet.Persistence;
using WfVae.Training;

namespace WfVae.MLNet;

/// <summary>
/// Encodes a video column into WF-VAE latent columns: the latent mean (<c>VectorDataViewType(Single, z, t, h, w)</c>) and, as
/// configured, the log-variance, a seeded sample and pooled per-channel features. Created by
/// <see cref="WfVaeEncodingEstimator.Fit"/>.
/// </summary>
/// <remarks>
/// <para><see cref="Transform"/> is lazy: rows are encoded when a cursor reads an output column, once per row however many output
/// columns are read. Parallel cursors (<c>GetRowCursorSet</c>) are safe and give identical values: the model is shared and
/// read-only, every cursor keeps its own Causal Cache.</para>
/// <para>Saving (<c>mlContext.Model.Save</c>) writes a chain of public ML.NET stages that records the model folder and the sha256
/// of its files; see <see cref="WfVaeModelRegistry"/>. After loading, latent columns keep their values and sizes but are flat
/// vectors (<c>Vector&lt;Single, z·t·h·w&gt;</c>), because ML.NET cannot restore multi-dimensional vector types from public stages.</para>
/// <para>Dispose the transformer to free the model's native memory (a model passed in <see cref="WfVaeEncoderOptions.Model"/>
/// belongs to the caller and is not disposed).</para>
/// </remarks>
public sealed class WfVaeEncodingTransformer : ITransformer, ICanSaveModel, IDisposable
{
    private readonly ModelHandle _model;
    private readonly EncodingMapping _mapping;

    internal WfVaeEncodingTransformer(WfVaeEncoderOptions options, DataViewSchema inputSchema, FineTuningResult? fineTuning = null)
    {
        Names.FindInput(inputSchema, options.InputColumnName);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        _model = ModelHandle.Open(options.ModelDirectory, options.Model, options.Device, nameof(WfVaeEncodingTransformer), WfVaeComponents.Encoder);
        var log = StageLog.For(options.Log, EncodingMapping.Stage);
        try
        {
            _mapping = EncodingMapping.Create(options, _model.Model.Config.LatentDim, _model.Model.ShapeRules, inputSchema, () => _model.Model);
            _mapping.Log = log;
            log?.ModelReady(_model.Model, loaded: options.Model is null, clock.Elapsed);
        }
        catch
        {
            _model.Dispose();
            throw;
        }
        Options = options;
        FineTunedModelDirectory = fineTuning?.ModelDirectory;
        FineTuningSummary = fineTuning?.Summary;
        FineTuningResumed = fineTuning?.Resumed ?? false;
    }

    /// <summary>
    /// The options the transformer runs with: the stage's options, except after fine-tuning, where
    /// <see cref="WfVaeEncoderOptions.ModelDirectory"/> is the fine-tuned folder and <see cref="WfVaeEncoderOptions.FineTuning"/> is null.
    /// </summary>
    public WfVaeEncoderOptions Options { get; }

    /// <summary>
    /// The folder written by fine-tuning (<see cref="WfVaeEncoderOptions.FineTuning"/>), whose weights this transformer encodes with;
    /// null when the stage was not fine-tuned. Give it to <c>WfVaeDecode</c> to decode with the same fine-tuned model.
    /// </summary>
    public string? FineTunedModelDirectory { get; }

    /// <summary>The training run of the fine-tuning (first and last step, time, checkpoint folder); null when the stage was not fine-tuned.</summary>
    public TrainingSummary? FineTuningSummary { get; }

    /// <summary>True when fine-tuning resumed an existing checkpoint of <see cref="WfVaeFineTuningOptions.RunDirectory"/> rather than starting a new run.</summary>
    public bool FineTuningResumed { get; }

    /// <summary>The model that encodes the rows.</summary>
    public WfVaeModel Model => _model.Model;

    /// <summary>The input column.</summary>
    public string InputColumnName => _mapping.InputColumnName;

    /// <summary>The output columns in schema order: the mean, then log-variance, sample and pooled features as enabled.</summary>
    public IReadOnlyList<string> OutputColumnNames => [.. _mapping.Outputs.Select(o => o.Name)];

    /// <summary>Latent shape (z, t, h, w) of every row, or null when it depends on the video (then the latent columns are variable-size vectors).</summary>
    public IReadOnlyList<int>? LatentShape => _mapping.Plan.LatentShape?.ToArray();

    /// <summary>True: the transformer maps rows one by one (so it works in prediction engines).</summary>
    public bool IsRowToRowMapper => true;

    /// <summary>The schema <see cref="Transform"/> produces for <paramref name="inputSchema"/>; throws ML.NET's schema errors.</summary>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) =>
        MappedStage.OutputSchema(_model, _mapping, inputSchema);

    /// <summary>A row-to-row mapper over <paramref name="inputSchema"/> (used by prediction engines and transformer chains).</summary>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) =>
        MappedStage.RowToRowMapper(_model, _mapping, inputSchema);

    /// <summary>Adds the latent columns to <paramref name="input"/>, lazily.</summary>
    public IDataView Transform(IDataView input) =>
        MappedStage.Transform(_model, _mapping, input);

    /// <summary>
    /// Saves the stage as a chain of public ML.NET stages (CustomMapping, Expression, Concatenate, CopyColumns, DropColumns) that
    /// records the model folder and sha256; called by <c>mlContext.Model.Save</c>.
    /// </summary>
    void ICanSaveModel.Save(ModelSaveContext ctx)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        var stage = new SavedStage
        {
            Model = WfVaeModelRegistry.Describe(_model.Model, _model.Stamp),
            Column = _mapping.InputColumnName,
            ErrorColumn = _mapping.ErrorColumnName,
            Version = SavedStage.VersionFor(_mapping.ErrorColumnName),
            Encode = _mapping.Plan,
        };
        var chain = SavedPipelines.Build(stage, _mapping.InputColumnName, _mapping.FittedInputType, _mapping.Outputs,
            _mapping.Plan.LatentParts, _mapping.Plan.PooledLength);
        ((ICanSaveModel)chain).Save(ctx);
    }

    /// <summary>Frees the model's native memory if the transformer loaded it. Cursors still open fail afterwards.</summary>
    public void Dispose() => _model.Dispose();
}
