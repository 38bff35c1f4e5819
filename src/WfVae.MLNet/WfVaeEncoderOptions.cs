using WfVae.Video;

namespace WfVae.MLNet;

/// <summary>
/// Options of the <c>WfVaeEncode</c> stage: which model, how a video cell becomes frames, and which columns come out.
/// All values are checked by <see cref="Validate"/>, which the estimator calls.
/// </summary>
/// <remarks>
/// The input column is either a <c>string</c> column of video file paths (decoded by ffmpeg and encoded chunk by chunk
/// through the Causal Cache, so a long video never sits in memory whole) or a <c>Single</c> vector column holding one
/// planar (C=3, T, H, W) video in [-1, 1] per row (<c>VectorDataViewType(Single, 3, T, H, W)</c>, or a flat vector
/// with <see cref="Height"/> and <see cref="Width"/> set).
/// </remarks>
public sealed record WfVaeEncoderOptions
{
    /// <summary>Suffix of the optional log-variance column (<c>&lt;output&gt;.LogVar</c>).</summary>
    public const string LogVarSuffix = ".LogVar";
    /// <summary>Suffix of the optional seeded-sample column (<c>&lt;output&gt;.Sample</c>).</summary>
    public const string SampleSuffix = ".Sample";
    /// <summary>Suffix of the optional pooled-feature column (<c>&lt;output&gt;.Pooled</c>).</summary>
    public const string PooledSuffix = ".Pooled";
    /// <summary>Suffix of the default error column (<c>&lt;output&gt;.Error</c>) of <see cref="WfVaeRowErrorPolicy.MissingValue"/>.</summary>
    public const string ErrorSuffix = ".Error";

    /// <summary>Name of the latent-mean column, a <c>VectorDataViewType(Single, z, t, h, w)</c> (variable-size when the video shape is not fixed).</summary>
    public required string OutputColumnName { get; init; }

    /// <summary>Name of the input column: <c>string</c> file paths or a <c>Single</c> vector holding (3, T, H, W).</summary>
    public required string InputColumnName { get; init; }

    /// <summary>
    /// Folder with <c>config.json</c> and <c>diffusion_pytorch_model.safetensors</c>. The transformer loads (and disposes) its
    /// own copy; a saved pipeline records this folder and the sha256 of both files. Set this or <see cref="Model"/>.
    /// </summary>
    public string? ModelDirectory { get; init; }

    /// <summary>
    /// An already loaded model, shared and not disposed by the transformer. Saving a pipeline needs
    /// <see cref="WfVaeModel.SourceDirectory"/> (a model from <see cref="WfVaeModel.Load"/>). Set this or <see cref="ModelDirectory"/>.
    /// </summary>
    public WfVaeModel? Model { get; init; }

    /// <summary>Device for <see cref="ModelDirectory"/>: <c>cpu</c> (default), <c>cuda</c> or <c>cuda:N</c>. Ignored with <see cref="Model"/>.</summary>
    public string Device { get; init; } = "cpu";

    /// <summary>
    /// Frame width. Path input: target width (each frame is scaled to cover the target size, then centre-cropped); null keeps the
    /// native width. Vector input: the layout of a flat (or variable-size) vector; ignored when the column type carries (3, T, H, W).
    /// </summary>
    public int? Width { get; init; }

    /// <summary>Frame height; see <see cref="Width"/>.</summary>
    public int? Height { get; init; }

    /// <summary>Path input only: keep every n-th decoded frame (1 keeps all).</summary>
    public int FrameStep { get; init; } = 1;

    /// <summary>Path input only: skip to this time before reading frames. Null starts at the beginning.</summary>
    public TimeSpan? Start { get; init; }

    /// <summary>
    /// Path input only: read at most this many frames (after <see cref="FrameStep"/>). When set, every row gets the same frame
    /// count: a shorter video is an error under <see cref="ShapePolicy.Strict"/> (which also needs <c>MaxFrames = 1 + 4k</c>),
    /// or is padded with its last frame up to the next 1 + 4k under <see cref="ShapePolicy.PadAndTrim"/>.
    /// With <see cref="Width"/>, <see cref="Height"/> and <see cref="MaxFrames"/> set, the latent columns have a known size.
    /// </summary>
    public int? MaxFrames { get; init; }

    /// <summary>
    /// What to do with a frame count that is not 1 + 4k or a size that is not a multiple of 8: reject it naming the nearest valid
    /// values (<see cref="ShapePolicy.Strict"/>, default) or repeat the last frame, row and column (<see cref="ShapePolicy.PadAndTrim"/>).
    /// </summary>
    public ShapePolicy ShapePolicy { get; init; } = ShapePolicy.Strict;

    /// <summary>
    /// Frames per Causal Cache chunk after frame 0, a positive multiple of 4 (default 16). Peak memory grows with this, not with
    /// the video length; the latents do not depend on it.
    /// </summary>
    public int ChunkFrames { get; init; } = 16;

    /// <summary>Also output the clamped log-variance as <c>&lt;output&gt;.LogVar</c> (same shape as the mean).</summary>
    public bool OutputLogVar { get; init; }

    /// <summary>
    /// When set, also output a posterior sample mean + std·ε as <c>&lt;output&gt;.Sample</c>, with ε drawn from a generator seeded
    /// with this value for every row (so a row's sample does not depend on its position, cursor or thread).
    /// </summary>
    public long? SampleSeed { get; init; }

    /// <summary>
    /// Output <c>&lt;output&gt;.Pooled</c>: per latent channel the mean and the population standard deviation of the latent mean
    /// over (t, h, w), as a known-size vector of 2z values [mean₀ … mean_z−1, std₀ … std_z−1] for downstream trainers. Default true.
    /// </summary>
    public bool OutputPooledFeatures { get; init; } = true;

    /// <summary>
    /// When set, <see cref="WfVaeEncodingEstimator.Fit"/> first fine-tunes the model (<see cref="ModelDirectory"/>, or the folder
    /// <see cref="Model"/> was loaded from) on the video files of the input column, which must then be a <c>string</c> path column,
    /// writes the result to <see cref="WfVaeFineTuningOptions.OutputModelDirectory"/> and returns a transformer that encodes with
    /// the fine-tuned weights (<see cref="WfVaeEncodingTransformer.FineTunedModelDirectory"/>). Training clips are read with this
    /// stage's <see cref="Width"/>, <see cref="Height"/>, <see cref="FrameStep"/>, <see cref="Start"/> and <see cref="MaxFrames"/>,
    /// so the model is tuned on frames like the ones it will encode. Null (default): <c>Fit</c> only loads the model.
    /// </summary>
    public WfVaeFineTuningOptions? FineTuning { get; init; }

    /// <summary>
    /// Where the stage's messages go (model loaded, each row's time and the running mean per row): usually the
    /// <c>MLContext</c> (<c>Log = mlContext</c>), whose <c>Log</c> event then receives them. Null (default): no messages.
    /// </summary>
    public Microsoft.ML.Runtime.IChannelProvider? Log { get; init; }

    /// <summary>
    /// What a row that cannot be encoded gives: an exception (<see cref="WfVaeRowErrorPolicy.Fail"/>, default) or missing values
    /// and the error text in <see cref="ErrorColumnName"/> (<see cref="WfVaeRowErrorPolicy.MissingValue"/>). Kept by saved pipelines.
    /// </summary>
    public WfVaeRowErrorPolicy RowErrors { get; init; } = WfVaeRowErrorPolicy.Fail;

    private readonly string? _errorColumnName;

    /// <summary>
    /// The text column that <see cref="WfVaeRowErrorPolicy.MissingValue"/> adds: empty for good rows, the error otherwise.
    /// Default <c>&lt;output&gt;.Error</c>; unused under <see cref="WfVaeRowErrorPolicy.Fail"/>.
    /// </summary>
    public string ErrorColumnName { get => _errorColumnName ?? OutputColumnName + ErrorSuffix; init => _errorColumnName = value; }

    /// <summary>Name of the log-variance column.</summary>
    public string LogVarColumnName => OutputColumnName + LogVarSuffix;

    /// <summary>Name of the sample column.</summary>
    public string SampleColumnName => OutputColumnName + SampleSuffix;

    /// <summary>Name of the pooled-feature column.</summary>
    public string PooledColumnName => OutputColumnName + PooledSuffix;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid option and what would be valid.</summary>
    public void Validate()
    {
        Names.CheckColumnName(OutputColumnName, nameof(OutputColumnName));
        Names.CheckColumnName(InputColumnName, nameof(InputColumnName));
        if ((ModelDirectory is null) == (Model is null))
            throw new ArgumentException("Set exactly one of WfVaeEncoderOptions.ModelDirectory (a folder with config.json and diffusion_pytorch_model.safetensors) and WfVaeEncoderOptions.Model.", ModelDirectory is null ? nameof(Model) : nameof(ModelDirectory));
        if (ModelDirectory is not null && string.IsNullOrWhiteSpace(ModelDirectory))
            throw new ArgumentException("WfVaeEncoderOptions.ModelDirectory is empty.", nameof(ModelDirectory));
        if (Model is null)
            WfVaeModel.ParseDevice(Device);
        else if (!Model.Components.HasFlag(WfVaeComponents.Encoder))
            throw new ArgumentException($"WfVaeEncoderOptions.Model was loaded with components {Model.Components}, without its encoder; load it with WfVaeComponents.All or Encoder.", nameof(Model));
        if (Width is { } w && (w < 1 || w > VideoReadOptions.MaxDimension))
            throw new ArgumentOutOfRangeException(nameof(Width), w, $"WfVaeEncoderOptions.Width must be null or in [1, {VideoReadOptions.MaxDimension}].");
        if (Height is { } h && (h < 1 || h > VideoReadOptions.MaxDimension))
            throw new ArgumentOutOfRangeException(nameof(Height), h, $"WfVaeEncoderOptions.Height must be null or in [1, {VideoReadOptions.MaxDimension}].");
        if (KnownShapeRules() is { } rules) ValidateShapes(rules);
        if (FrameStep < 1)
            throw new ArgumentOutOfRangeException(nameof(FrameStep), FrameStep, "WfVaeEncoderOptions.FrameStep must be >= 1.");
        if (Start is { } s && s < TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(Start), s, "WfVaeEncoderOptions.Start must be null or >= 0.");
        if (MaxFrames is < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxFrames), MaxFrames, "WfVaeEncoderOptions.MaxFrames must be null or >= 1.");
        if (ChunkFrames < 1)
            throw new ArgumentOutOfRangeException(nameof(ChunkFrames), ChunkFrames, "WfVaeEncoderOptions.ChunkFrames must be a positive multiple of the model's temporal compression (4 for the released models, e.g. 4, 8 or 16).");
        if (FineTuning is { } ft)
        {
            ft.Validate();
            if (Model is not null && Model.SourceDirectory is null)
                throw new ArgumentException("WfVaeEncoderOptions.FineTuning starts from a model folder, but WfVaeEncoderOptions.Model was not loaded from one (WfVaeModel.SourceDirectory is null). Save it with model.Save(folder) and set ModelDirectory.", nameof(FineTuning));
            string start = Path.TrimEndingDirectorySeparator(Path.GetFullPath(ModelDirectory ?? Model!.SourceDirectory!));
            string output = Path.TrimEndingDirectorySeparator(Path.GetFullPath(ft.OutputModelDirectory));
            if (WfVaeFineTuningOptions.SameOrInside(start, output) || WfVaeFineTuningOptions.SameOrInside(output, start))
                throw new ArgumentException($"WfVaeFineTuningOptions.OutputModelDirectory '{output}' must be a folder separate from the model it starts from ('{start}').", nameof(FineTuning));
            int size = ft.Training.Size;
            if (Width is { } fw && Height is { } fh && size > Math.Min(fw, fh))
                throw new ArgumentException($"WfVaeFineTuningOptions.Training.Size {size} is larger than the frames this stage reads ({fw}x{fh}); training crops must fit in them: use a Size of at most {Math.Min(fw, fh)}.", nameof(FineTuning));
        }
        var names = new List<string> { OutputColumnName };
        if (OutputLogVar) names.Add(LogVarColumnName);
        if (SampleSeed is not null) names.Add(SampleColumnName);
        if (OutputPooledFeatures) names.Add(PooledColumnName);
        foreach (var n in names)
            Names.CheckColumnName(n, nameof(OutputColumnName));
        Names.CheckRowErrors(RowErrors, ErrorColumnName, names, "WfVaeEncoderOptions");
    }

    /// <summary>The model's shape rules when they are known without loading weights: a given model, or a readable config.json.</summary>
    private VideoShapeRules? KnownShapeRules()
    {
        if (Model is not null) return Model.ShapeRules;
        string config = Path.Combine(ModelDirectory!, WfVaeModel.ConfigFileName);
        if (!File.Exists(config)) return null; // loading the model reports it, naming the folder
        try { return WfVaeConfig.Load(config).ShapeRules; }
        catch (WfVaeConfigException) { return null; }
    }

    /// <summary>Throws naming the first setting the model's frame-count and size rules refuse.</summary>
    internal void ValidateShapes(VideoShapeRules rules)
    {
        if (ShapePolicy == ShapePolicy.Strict)
        {
            if (Width is { } sw && !rules.IsValidSide(sw))
                throw new ArgumentOutOfRangeException(nameof(Width), sw, $"WfVaeEncoderOptions.Width {sw} is not a multiple of {rules.SpatialFactor} (nearest valid: {rules.NearestSides(sw)}); change it or use ShapePolicy.PadAndTrim.");
            if (Height is { } sh && !rules.IsValidSide(sh))
                throw new ArgumentOutOfRangeException(nameof(Height), sh, $"WfVaeEncoderOptions.Height {sh} is not a multiple of {rules.SpatialFactor} (nearest valid: {rules.NearestSides(sh)}); change it or use ShapePolicy.PadAndTrim.");
            if (MaxFrames is { } sm && sm >= 1 && !rules.IsValidFrameCount(sm))
                throw new ArgumentOutOfRangeException(nameof(MaxFrames), sm, $"WfVaeEncoderOptions.MaxFrames {sm} is not {rules.FrameCountForm} (nearest valid: {rules.NearestFrameCounts(sm)}); change it or use ShapePolicy.PadAndTrim.");
        }
        if (!rules.IsValidChunkFrames(ChunkFrames))
            throw new ArgumentOutOfRangeException(nameof(ChunkFrames), ChunkFrames, $"WfVaeEncoderOptions.ChunkFrames must be a positive multiple of {rules.TemporalFactor} (e.g. {rules.ChunkExamples}).");
    }
}
