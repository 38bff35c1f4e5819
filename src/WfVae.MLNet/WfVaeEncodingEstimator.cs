using Microsoft.ML;
using Microsoft.ML.Data;

namespace WfVae.MLNet;

/// <summary>
/// The <c>WfVaeEncode</c> stage before fitting. It needs no training data: <see cref="Fit"/> checks the input schema, loads the
/// model and returns a <see cref="WfVaeEncodingTransformer"/>. Create it with
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

    /// <summary>Checks <paramref name="input"/>'s schema, loads the model (unless one was given) and returns the transformer.</summary>
    public WfVaeEncodingTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
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
        else if (col.Kind != SchemaShape.Column.VectorKind.Scalar && col.ItemType == NumberDataViewType.Single && !col.IsKey)
            known = col.Kind == SchemaShape.Column.VectorKind.Vector;
        else
            throw Names.Mismatch(col.Name, "String (video file paths) or Vector<Single, 3, T, H, W>", Names.DescribeShape(col));
        var added = new List<SchemaShape.Column> { SchemaShapes.SingleVector(Options.OutputColumnName, known) };
        if (Options.OutputLogVar) added.Add(SchemaShapes.SingleVector(Options.LogVarColumnName, known));
        if (Options.SampleSeed is not null) added.Add(SchemaShapes.SingleVector(Options.SampleColumnName, known));
        if (Options.OutputPooledFeatures) added.Add(SchemaShapes.SingleVector(Options.PooledColumnName, knownSize: true));
        return SchemaShapes.With(inputSchema, added);
    }
}
