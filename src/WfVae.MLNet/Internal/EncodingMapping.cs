using Microsoft.ML;
using Microsoft.ML.Data;

namespace WfVae.MLNet;

/// <summary>The encode stage bound to a fitted input type: schema checks and per-row computation.</summary>
internal sealed class EncodingMapping : IColumnMapping
{
    public const string Stage = "WfVaeEncode";
    private readonly Func<WfVaeModel> _model;

    private EncodingMapping(string inputColumn, DataViewType fittedType, EncodingPlan plan, IReadOnlyList<OutputColumn> outputs, string? errorColumn, Func<WfVaeModel> model)
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
    public EncodingPlan Plan { get; }
    public IReadOnlyList<OutputColumn> Outputs { get; }
    public string? ErrorColumnName { get; }

    /// <summary>Plans the stage for <paramref name="inputSchema"/>: checks the input column and fixes shapes and output types.</summary>
    public static EncodingMapping Create(WfVaeEncoderOptions o, int latentDim, VideoShapeRules rules, DataViewSchema inputSchema, Func<WfVaeModel> model)
    {
        o.ValidateShapes(rules);
        var col = Names.FindInput(inputSchema, o.InputColumnName);
        var plan = new EncodingPlan
        {
            LatentDim = latentDim,
            Policy = o.ShapePolicy,
            ChunkFrames = o.ChunkFrames,
            LogVar = o.OutputLogVar,
            SampleSeed = o.SampleSeed,
            Pooled = o.OutputPooledFeatures,
        };
        bool pad = o.ShapePolicy == ShapePolicy.PadAndTrim;
        if (col.Type is TextDataViewType)
        {
            plan = plan with
            {
                Input = VideoInputKind.Path,
                Width = o.Width,
                Height = o.Height,
                FrameStep = o.FrameStep,
                StartTicks = o.Start?.Ticks,
                MaxFrames = o.MaxFrames,
            };
            if (o.Width is int w && o.Height is int h && o.MaxFrames is int m)
            {
                long t = pad ? rules.PaddedFrameCount(m) : m;
                long hp = pad ? rules.PaddedSide(h) : h, wp = pad ? rules.PaddedSide(w) : w;
                plan = plan with { LatentShape = LatentShape(latentDim, rules, t, hp, wp) };
            }
        }
        else if (col.Type is VectorDataViewType v && v.ItemType == NumberDataViewType.Single)
        {
            int? frames;
            int h, w;
            if (v.Dimensions.Length == 4 && v.IsKnownSize)
            {
                if (v.Dimensions[0] != 3)
                    throw Names.Mismatch(col.Name, "Vector<Single, 3, T, H, W>", Names.Describe(v), "the first dimension must be the 3 RGB channels");
                (frames, h, w) = (v.Dimensions[1], v.Dimensions[2], v.Dimensions[3]);
            }
            else
            {
                if (o.Height is not int oh || o.Width is not int ow)
                    throw Names.Mismatch(col.Name, "Vector<Single, 3, T, H, W>", Names.Describe(v),
                        "a vector without (3, T, H, W) dimensions needs WfVaeEncoderOptions.Height and Width to describe its layout");
                (h, w) = (oh, ow);
                frames = null;
                if (v.IsKnownSize)
                {
                    long frame = 3L * h * w;
                    if (v.Size % frame != 0)
                        throw Names.Mismatch(col.Name, $"Vector<Single, 3·T·{h}·{w}>", Names.Describe(v), $"{v.Size} values are not a whole number of 3x{h}x{w} frames");
                    frames = (int)(v.Size / frame);
                }
            }
            plan = plan with { Input = VideoInputKind.Vector, Width = w, Height = h, Frames = frames };
            if (!pad && frames is int strictFrames)
            {
                try
                {
                    rules.Validate(strictFrames, h, w);
                }
                catch (ArgumentException e)
                {
                    throw new ArgumentOutOfRangeException(nameof(inputSchema), $"Input column '{col.Name}' ({v}) holds videos the model cannot take: {e.Message}");
                }
            }
            else if (!pad && (!rules.IsValidSide(h) || !rules.IsValidSide(w)))
            {
                throw new ArgumentOutOfRangeException(nameof(inputSchema),
                    $"Input column '{col.Name}' holds {w}x{h} frames, but width and height must be multiples of {rules.SpatialFactor} (nearest valid: width {rules.NearestSides(w)}, height {rules.NearestSides(h)}); change Width/Height or use ShapePolicy.PadAndTrim.");
            }
            if (frames is int tf)
            {
                long t = pad ? rules.PadFrameCountOrSelf(tf) : tf;
                long hp = pad ? rules.PaddedSide(h) : h, wp = pad ? rules.PaddedSide(w) : w;
                plan = plan with { LatentShape = LatentShape(latentDim, rules, t, hp, wp) };
            }
        }
        else
        {
            throw Names.Mismatch(col.Name, "String (video file paths) or Vector<Single, 3, T, H, W>", Names.Describe(col.Type));
        }

        var latentType = plan.LatentShape is { } s
            ? new VectorDataViewType(NumberDataViewType.Single, s)
            : new VectorDataViewType(NumberDataViewType.Single);
        var outputs = new List<OutputColumn> { new(o.OutputColumnName, latentType) };
        if (o.OutputLogVar) outputs.Add(new(o.LogVarColumnName, latentType));
        if (o.SampleSeed is not null) outputs.Add(new(o.SampleColumnName, latentType));
        if (o.OutputPooledFeatures) outputs.Add(new(o.PooledColumnName, new VectorDataViewType(NumberDataViewType.Single, 2 * latentDim)));
        return new EncodingMapping(col.Name, col.Type, plan, outputs, ErrorColumn(o.RowErrors, o.ErrorColumnName), model);
    }

    /// <summary>The error column a policy adds, or null when errors throw.</summary>
    internal static string? ErrorColumn(WfVaeRowErrorPolicy policy, string name) => policy == WfVaeRowErrorPolicy.MissingValue ? name : null;

    public DataViewSchema.Column BindInput(DataViewSchema inputSchema)
    {
        var col = Names.FindInput(inputSchema, InputColumnName);
        if (Plan.Input == VideoInputKind.Path)
        {
            if (col.Type is not TextDataViewType)
                throw Names.Mismatch(col.Name, "String", Names.Describe(col.Type), "this stage was fitted on a column of video file paths");
            return col;
        }
        if (col.Type is not VectorDataViewType v || v.ItemType != NumberDataViewType.Single
            || (FittedInputType is VectorDataViewType { IsKnownSize: true } f && v.Size != f.Size))
            throw Names.Mismatch(col.Name, Names.Describe(FittedInputType), Names.Describe(col.Type));
        return col;
    }

    /// <summary>Receives each row's time when the stage logs (<see cref="WfVaeEncoderOptions.Log"/>).</summary>
    public StageLog? Log { get; set; }

    public IRowComputer CreateComputer(DataViewRow row, DataViewSchema.Column input)
    {
        IRowComputer computer = Plan.Input == VideoInputKind.Path ? new PathComputer(this, row.GetGetter<ReadOnlyMemory<char>>(input)) : new VectorComputer(this, row.GetGetter<VBuffer<float>>(input));
        return Log is null ? computer : Log.Timed(computer, "encoded");
    }

    private sealed class PathComputer(EncodingMapping parent, ValueGetter<ReadOnlyMemory<char>> getter) : IRowComputer
    {
        private ReadOnlyMemory<char> _value;

        public string? CurrentFile { get; private set; }

        public float[][] Compute()
        {
            CurrentFile = null;
            getter(ref _value);
            CurrentFile = _value.ToString();
            return VideoEncoding.EncodePath(parent._model(), parent.Plan, CurrentFile);
        }
    }

    private sealed class VectorComputer(EncodingMapping parent, ValueGetter<VBuffer<float>> getter) : IRowComputer
    {
        private VBuffer<float> _value;
        private float[] _dense = [];

        public string? CurrentFile => null;

        public float[][] Compute()
        {
            getter(ref _value);
            return VideoEncoding.EncodeVector(parent._model(), parent.Plan, Dense(ref _value, ref _dense));
        }
    }

    /// <summary>The values of a (possibly sparse) vector as a dense span.</summary>
    private static int[] LatentShape(int latentDim, VideoShapeRules rules, long t, long h, long w) =>
        [latentDim, (int)rules.LatentFrames(t), (int)rules.LatentSide(h), (int)rules.LatentSide(w)];

    internal static ReadOnlySpan<float> Dense(ref VBuffer<float> v, ref float[] scratch)
    {
        if (v.IsDense) return v.GetValues();
        if (scratch.Length != v.Length) scratch = new float[v.Length];
        Array.Clear(scratch);
        var values = v.GetValues();
        var indices = v.GetIndices();
        for (int i = 0; i < values.Length; i++) scratch[indices[i]] = values[i];
        return scratch;
    }
}
