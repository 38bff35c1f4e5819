using Microsoft.ML;
using Microsoft.ML.Data;

namespace WfVae.MLNet;

/// <summary>The decode stage bound to a fitted latent type: schema checks and per-row computation.</summary>
internal sealed class DecodingMapping : IColumnMapping
{
    public const string Stage = "WfVaeDecode";
    private readonly Func<WfVaeModel> _model;

    private DecodingMapping(string inputColumn, DataViewType fittedType, DecodingPlan plan, IReadOnlyList<OutputColumn> outputs, string? errorColumn, Func<WfVaeModel> model)
    {
        ErrorColumnName = errorColumn;
        InputColumnName = inputColumn;
        FittedInputType = fittedType;
        Plan = plan;
        Outputs = outputs;
        _model = model;
    }

    public string StageName => Stage;
    public string InputColumnName { get; }
    public DataViewType FittedInputType { get; }
    public DecodingPlan Plan { get; }
    public IReadOnlyList<OutputColumn> Outputs { get; }
    public string? ErrorColumnName { get; }

    /// <summary>Plans the stage for <paramref name="inputSchema"/>: checks the latent column and fixes the output type.</summary>
    public static DecodingMapping Create(WfVaeDecoderOptions o, int latentDim, VideoShapeRules rules, DataViewSchema inputSchema, Func<WfVaeModel> model)
    {
        var col = Names.FindInput(inputSchema, o.InputColumnName);
        string expected = $"Vector<Single, {latentDim}, t, h, w>";
        if (col.Type is not VectorDataViewType v || v.ItemType != NumberDataViewType.Single)
            throw Names.Mismatch(col.Name, expected, Names.Describe(col.Type));
        int h, w;
        int? t;
        if (v.Dimensions.Length == 4 && v.IsKnownSize)
        {
            if (v.Dimensions[0] != latentDim)
                throw Names.Mismatch(col.Name, expected, Names.Describe(v), $"the model's latent_dim is {latentDim}");
            (t, h, w) = (v.Dimensions[1], v.Dimensions[2], v.Dimensions[3]);
        }
        else
        {
            if (o.LatentHeight is not int lh || o.LatentWidth is not int lw)
                throw Names.Mismatch(col.Name, expected, Names.Describe(v),
                    "a latent vector without (z, t, h, w) dimensions needs WfVaeDecoderOptions.LatentHeight and LatentWidth to describe its layout");
            (h, w) = (lh, lw);
            t = null;
            if (v.IsKnownSize)
            {
                long plane = (long)latentDim * h * w;
                if (v.Size % plane != 0)
                    throw Names.Mismatch(col.Name, $"Vector<Single, {latentDim}·t·{h}·{w}>", Names.Describe(v), $"{v.Size} values are not a whole number of {latentDim}x{h}x{w} latent frames");
                t = (int)(v.Size / plane);
            }
        }
        var plan = new DecodingPlan
        {
            LatentDim = latentDim,
            LatentHeight = h,
            LatentWidth = w,
            LatentFrames = t,
            ChunkLatentFrames = o.ChunkLatentFrames,
            Frames = o.Frames,
            Height = o.Height,
            Width = o.Width,
            Clamp = o.ClampOutput,
            TemporalFactor = rules.TemporalFactor,
            SpatialFactor = rules.SpatialFactor,
        };
        VectorDataViewType outType;
        if (t is int lt)
        {
            var (vt, vh, vw) = plan.VideoShape(lt);
            outType = new VectorDataViewType(NumberDataViewType.Single, 3, vt, vh, vw);
        }
        else
        {
            outType = new VectorDataViewType(NumberDataViewType.Single);
        }
        return new DecodingMapping(col.Name, col.Type, plan, [new OutputColumn(o.OutputColumnName, outType)], EncodingMapping.ErrorColumn(o.RowErrors, o.ErrorColumnName), model);
    }

    public DataViewSchema.Column BindInput(DataViewSchema inputSchema)
    {
        var col = Names.FindInput(inputSchema, InputColumnName);
        if (col.Type is not VectorDataViewType v || v.ItemType != NumberDataViewType.Single
            || (FittedInputType is VectorDataViewType { IsKnownSize: true } f && v.Size != f.Size))
            throw Names.Mismatch(col.Name, Names.Describe(FittedInputType), Names.Describe(col.Type));
        return col;
    }

    /// <summary>Receives each row's time when the stage logs (<see cref="WfVaeDecoderOptions.Log"/>).</summary>
    public StageLog? Log { get; set; }

    public IRowComputer CreateComputer(DataViewRow row, DataViewSchema.Column input)
    {
        IRowComputer computer = new LatentComputer(this, row.GetGetter<VBuffer<float>>(input));
        return Log is null ? computer : Log.Timed(computer, "decoded");
    }

    private sealed class LatentComputer(DecodingMapping parent, ValueGetter<VBuffer<float>> getter) : IRowComputer
    {
        private VBuffer<float> _value;
        private float[] _dense = [];

        public string? CurrentFile => null;

        public float[][] Compute()
        {
            getter(ref _value);
            return VideoEncoding.Decode(parent._model(), parent.Plan, EncodingMapping.Dense(ref _value, ref _dense));
        }
    }
}
