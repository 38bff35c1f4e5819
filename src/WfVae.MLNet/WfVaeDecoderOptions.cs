namespace WfVae.MLNet;

/// <summary>
/// Options of the <c>WfVaeDecode</c> stage: which model, how the latent vector is laid out, and how the decoded video is cut.
/// All values are checked by <see cref="Validate"/>, which the estimator calls.
/// </summary>
/// <remarks>
/// The input column holds one latent (z, t, h, w) per row: a <c>VectorDataViewType(Single, z, t, h, w)</c> as the encoder
/// produces, or a flat / variable-size <c>Single</c> vector with <see cref="LatentHeight"/> and <see cref="LatentWidth"/> set
/// (t follows from the length). The output is the decoded video, <c>VectorDataViewType(Single, 3, T, H, W)</c> with
/// T = 4(t − 1) + 1, H = 8h, W = 8w (before <see cref="Frames"/>/<see cref="Height"/>/<see cref="Width"/> cut it).
/// </remarks>
public sealed record WfVaeDecoderOptions
{
    /// <summary>Name of the decoded-video column.</summary>
    public required string OutputColumnName { get; init; }

    /// <summary>Name of the latent column.</summary>
    public required string InputColumnName { get; init; }

    /// <summary>Folder with <c>config.json</c> and <c>diffusion_pytorch_model.safetensors</c>; see <see cref="WfVaeEncoderOptions.ModelDirectory"/>.</summary>
    public string? ModelDirectory { get; init; }

    /// <summary>An already loaded model, shared and not disposed; see <see cref="WfVaeEncoderOptions.Model"/>.</summary>
    public WfVaeModel? Model { get; init; }

    /// <summary>Device for <see cref="ModelDirectory"/>: <c>cpu</c> (default), <c>cuda</c> or <c>cuda:N</c>. Ignored with <see cref="Model"/>.</summary>
    public string Device { get; init; } = "cpu";

    /// <summary>Latent height h of a flat or variable-size input vector (ignored when the column type carries (z, t, h, w)).</summary>
    public int? LatentHeight { get; init; }

    /// <summary>Latent width w of a flat or variable-size input vector (ignored when the column type carries (z, t, h, w)).</summary>
    public int? LatentWidth { get; init; }

    /// <summary>
    /// Latent frames per Causal Cache chunk after frame 0 (any positive number); null decodes each row whole. Default
    /// <see cref="WfVaeModel.DefaultDecodeChunkLatentFrames"/> (1): the lowest peak memory at the same speed; the video does not depend on it.
    /// </summary>
    public int? ChunkLatentFrames { get; init; } = WfVaeModel.DefaultDecodeChunkLatentFrames;

    /// <summary>Keep at most this many decoded frames (e.g. the frame count before <see cref="ShapePolicy.PadAndTrim"/> padded it). Null keeps all.</summary>
    public int? Frames { get; init; }

    /// <summary>Keep at most this many decoded rows (undoes height padding). Null keeps all.</summary>
    public int? Height { get; init; }

    /// <summary>Keep at most this many decoded columns (undoes width padding). Null keeps all.</summary>
    public int? Width { get; init; }

    /// <summary>Clamp the decoded video to [-1, 1]. Default false: the values are exactly what <see cref="WfVaeModel.Decode"/> returns.</summary>
    public bool ClampOutput { get; init; }

    /// <summary>
    /// Where the stage's messages go (model loaded, each row's time and the running mean per row): usually the
    /// <c>MLContext</c> (<c>Log = mlContext</c>), whose <c>Log</c> event then receives them. Null (default): no messages.
    /// </summary>
    public Microsoft.ML.Runtime.IChannelProvider? Log { get; init; }

    /// <summary>What a row that cannot be decoded gives; see <see cref="WfVaeEncoderOptions.RowErrors"/>.</summary>
    public WfVaeRowErrorPolicy RowErrors { get; init; } = WfVaeRowErrorPolicy.Fail;

    private readonly string? _errorColumnName;

    /// <summary>The error column of <see cref="WfVaeRowErrorPolicy.MissingValue"/>; default <c>&lt;output&gt;.Error</c>.</summary>
    public string ErrorColumnName { get => _errorColumnName ?? OutputColumnName + WfVaeEncoderOptions.ErrorSuffix; init => _errorColumnName = value; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid option and what would be valid.</summary>
    public void Validate()
    {
        Names.CheckColumnName(OutputColumnName, nameof(OutputColumnName));
        Names.CheckColumnName(InputColumnName, nameof(InputColumnName));
        if ((ModelDirectory is null) == (Model is null))
            throw new ArgumentException("Set exactly one of WfVaeDecoderOptions.ModelDirectory (a folder with config.json and diffusion_pytorch_model.safetensors) and WfVaeDecoderOptions.Model.", ModelDirectory is null ? nameof(Model) : nameof(ModelDirectory));
        if (ModelDirectory is not null && string.IsNullOrWhiteSpace(ModelDirectory))
            throw new ArgumentException("WfVaeDecoderOptions.ModelDirectory is empty.", nameof(ModelDirectory));
        if (Model is null)
            WfVaeModel.ParseDevice(Device);
        else if (!Model.Components.HasFlag(WfVaeComponents.Decoder))
            throw new ArgumentException($"WfVaeDecoderOptions.Model was loaded with components {Model.Components}, without its decoder; load it with WfVaeComponents.All or Decoder.", nameof(Model));
        if (LatentHeight is < 1)
            throw new ArgumentOutOfRangeException(nameof(LatentHeight), LatentHeight, "WfVaeDecoderOptions.LatentHeight must be null or >= 1.");
        if (LatentWidth is < 1)
            throw new ArgumentOutOfRangeException(nameof(LatentWidth), LatentWidth, "WfVaeDecoderOptions.LatentWidth must be null or >= 1.");
        if (ChunkLatentFrames is < 1)
            throw new ArgumentOutOfRangeException(nameof(ChunkLatentFrames), ChunkLatentFrames, "WfVaeDecoderOptions.ChunkLatentFrames must be null or >= 1.");
        if (Frames is < 1)
            throw new ArgumentOutOfRangeException(nameof(Frames), Frames, "WfVaeDecoderOptions.Frames must be null or >= 1.");
        if (Height is < 1)
            throw new ArgumentOutOfRangeException(nameof(Height), Height, "WfVaeDecoderOptions.Height must be null or >= 1.");
        if (Width is < 1)
            throw new ArgumentOutOfRangeException(nameof(Width), Width, "WfVaeDecoderOptions.Width must be null or >= 1.");
        Names.CheckRowErrors(RowErrors, ErrorColumnName, [OutputColumnName], "WfVaeDecoderOptions");
    }
}
