using Microsoft.ML;
using Microsoft.ML.Data;

namespace WfVae.MLNet;

/// <summary>
/// The <c>WfVaeDecode</c> stage before fitting. It needs no training data: <see cref="Fit"/> checks the input schema, loads the
/// model and returns a <see cref="WfVaeDecodingTransformer"/>. Create it with <c>mlContext.Transforms.WfVaeDecode(...)</c>.
/// </summary>
public sealed class WfVaeDecodingEstimator : IEstimator<WfVaeDecodingTransformer>
{
    internal WfVaeDecodingEstimator(WfVaeDecoderOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
    }

    /// <summary>The validated options.</summary>
    public WfVaeDecoderOptions Options { get; }

    /// <summary>Checks <paramref name="input"/>'s schema, loads the model (unless one was given) and returns the transformer.</summary>
    public WfVaeDecodingTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return new WfVaeDecodingTransformer(Options, input.Schema);
    }

    /// <summary>The schema shape after this stage: the input must be a Single vector; the video is known-size when the latent is.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        var col = SchemaShapes.Find(inputSchema, Options.InputColumnName);
        if (col.Kind == SchemaShape.Column.VectorKind.Scalar || col.ItemType != NumberDataViewType.Single || col.IsKey)
            throw Names.Mismatch(col.Name, "Vector<Single, z, t, h, w>", Names.DescribeShape(col));
        bool known = col.Kind == SchemaShape.Column.VectorKind.Vector;
        return SchemaShapes.With(inputSchema, [SchemaShapes.SingleVector(Options.OutputColumnName, known), .. SchemaShapes.ErrorColumn(Options.RowErrors, Options.ErrorColumnName)]);
    }
}
