using Microsoft.ML;
using Microsoft.ML.Data;

namespace WfVae.MLNet;

/// <summary>
/// The <c>WfVaeEncode</c> stage before fitting. By default it needs no training data: <see cref="Fit"/> checks the input schema,
/// loads the model and returns a <see cref="WfVaeEncodingTransformer"/>. With <see cref="WfVaeEncoderOptions.FineTuning"/> set,
/// <see cref="Fit"/> fine-tunes the model on the input column's video files first. Create it with
/// <c>mlContext.Transforms.WfVaeEncode(...)</c>.
/// </summary>
public sealed class WfVaeEncodingEstimator : IEstimator<WfVaeEncodingTransformer>
{
    internal WfVaeEncodingEstimator(WfVaeEncoderOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
    }

    /// <summary>The validated options.</summary>
    public WfVaeEncoderOptions Options { get; }

    /// <summary>
    /// Checks <paramref name="input"/>'s schema, loads the model (unless one was given) and returns the transformer.
    /// With <see cref="WfVaeEncoderOptions.FineTuning"/> set, first fine-tunes the model on the videos of the input column (which
    /// must be a <c>string</c> path column): every non-empty path is checked before training starts (a missing file throws
    /// <see cref="WfVaeRowException"/> naming the row and path), the model is trained (or the run folder's checkpoint resumed),
    /// the fine-tuned folder is written atomically, and the returned transformer encodes with it
    /// (<see cref="WfVaeEncodingTransformer.FineTunedModelDirectory"/>; a saved pipeline records that folder and its sha256).
    /// </summary>
    /// <exception cref="OperationCanceledException">
    /// <see cref="WfVaeFineTuningOptions.CancellationToken"/> was cancelled; the run folder keeps a checkpoint and no model folder is written.
    /// </exception>
    public WfVaeEncodingTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (Options.FineTuning is not null)
            return EncoderFineTuning.Fit(Options, input);
        return new WfVaeEncodingTransformer(Options, input.Schema);
    }

    /// <summary>
    /// The schema shape after this stage: the input column must be a string (paths) or a Single vector; the latent columns are
    /// known-size vectors when the video shape is fixed (vector input of known size, or path input with Width, Height and MaxFrames).
    /// </summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        var col = SchemaShapes.Find(inputSchema, Options.InputColumnName);
        bool known;
        if (col.Kind == SchemaShape.Column.VectorKind.Scalar && col.ItemType is TextDataViewType)
            known = Options.Width is not null && Options.Height is not null && Options.MaxFrames is not null;
        else if (Options.FineTuning is not null)
            throw Names.Mismatch(col.Name, "String (video file paths)", Names.DescribeShape(col), EncoderFineTuning.Hint);
        else if (col.Kind != SchemaShape.Column.VectorKind.Scalar && col.ItemType == NumberDataViewType.Single && !col.IsKey)
            known = col.Kind == SchemaShape.Column.VectorKind.Vector;
        else
            throw Names.Mismatch(col.Name, "String (video file paths) or Vector<Single, 3, T, H, W>", Names.DescribeShape(col));
        var added = new List<SchemaShape.Column> { SchemaShapes.SingleVector(Options.OutputColumnName, known) };
        if (Options.OutputLogVar) added.Add(SchemaShapes.SingleVector(Options.LogVarColumnName, known));
        if (Options.SampleSeed is not null) added.Add(SchemaShapes.SingleVector(Options.SampleColumnName, known));
        if (Options.OutputPooledFeatures) added.Add(SchemaShapes.SingleVector(Options.PooledColumnName, knownSize: true));
        added.AddRange(SchemaShapes.ErrorColumn(Options.RowErrors, Options.ErrorColumnName));
        return SchemaShapes.With(inputSchema, added);
    }
}
