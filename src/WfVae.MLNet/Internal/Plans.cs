using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace WfVae.MLNet;

/// <summary>How the encoder's input column holds video.</summary>
internal enum VideoInputKind
{
    /// <summary>A string column of file paths, read with ffmpeg.</summary>
    Path,
    /// <summary>A Single vector column holding (3, T, H, W) in [-1, 1].</summary>
    Vector,
}

/// <summary>
/// Everything an encode needs besides the weights, fixed when the stage is fitted; the same plan drives the in-memory transformer
/// and the saved pipeline, so both compute identical values.
/// </summary>
internal sealed record EncodingPlan
{
    public VideoInputKind Input { get; init; }
    public int LatentDim { get; init; }
    /// <summary>Path: target width (null = native). Vector: frame width of the layout.</summary>
    public int? Width { get; init; }
    /// <summary>Path: target height (null = native). Vector: frame height of the layout.</summary>
    public int? Height { get; init; }
    /// <summary>Vector: frames of the layout (null for variable-size vectors). Path: unused.</summary>
    public int? Frames { get; init; }
    public int FrameStep { get; init; } = 1;
    /// <summary>Path: start time in ticks (exact, unlike seconds in a double).</summary>
    public long? StartTicks { get; init; }
    public int? MaxFrames { get; init; }
    public ShapePolicy Policy { get; init; }
    public int ChunkFrames { get; init; } = 16;
    public bool LogVar { get; init; }
    public long? SampleSeed { get; init; }
    public bool Pooled { get; init; }
    /// <summary>(z, t, h, w) when every row has this latent shape; null when it varies per row.</summary>
    public int[]? LatentShape { get; init; }

    /// <summary>Number of latent-shaped outputs: mean, then logvar and sample when enabled.</summary>
    [JsonIgnore] public int LatentParts => 1 + (LogVar ? 1 : 0) + (SampleSeed is null ? 0 : 1);

    /// <summary>Length of the pooled output (2z) or 0.</summary>
    [JsonIgnore] public int PooledLength => Pooled ? 2 * LatentDim : 0;

    [JsonIgnore] public long? LatentLength => LatentShape is { } s ? (long)s[0] * s[1] * s[2] * s[3] : null;
}

/// <summary>Everything a decode needs besides the weights, fixed when the stage is fitted.</summary>
internal sealed record DecodingPlan
{
    public int LatentDim { get; init; }
    /// <summary>Latent (h, w); t follows from each row's length when <see cref="LatentFrames"/> is null.</summary>
    public int LatentHeight { get; init; }
    public int LatentWidth { get; init; }
    public int? LatentFrames { get; init; }
    public int? ChunkLatentFrames { get; init; }
    public int? Frames { get; init; }
    public int? Height { get; init; }
    public int? Width { get; init; }
    public bool Clamp { get; init; }
    /// <summary>The model's compression factors (plans saved before they were recorded are the released 4×8×8).</summary>
    public int TemporalFactor { get; init; } = 4;
    public int SpatialFactor { get; init; } = 8;

    /// <summary>Decoded (T, H, W) for t latent frames, after the optional cut.</summary>
    public (int T, int H, int W) VideoShape(int latentFrames)
    {
        var rules = new VideoShapeRules(TemporalFactor, SpatialFactor);
        int t = (int)rules.VideoFrames(latentFrames), h = (int)rules.VideoSide(LatentHeight), w = (int)rules.VideoSide(LatentWidth);
        return (Math.Min(t, Frames ?? t), Math.Min(h, Height ?? h), Math.Min(w, Width ?? w));
    }
}

/// <summary>What a saved WF-VAE stage stores (as base64 JSON inside the ML.NET model): the weights and the plan.</summary>
internal sealed record SavedStage
{
    /// <summary>2 adds <see cref="ErrorColumn"/>; stages without it are still written as 1, so older builds keep reading them.</summary>
    public const int CurrentVersion = 2;

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter() },
    };

    public int Version { get; init; } = 1;
    public required ModelReference Model { get; init; }
    /// <summary>The error column of <see cref="WfVaeRowErrorPolicy.MissingValue"/>; null when a bad row throws.</summary>
    public string? ErrorColumn { get; init; }

    /// <summary>The oldest format that can hold a stage with this error column.</summary>
    public static int VersionFor(string? errorColumn) => errorColumn is null ? 1 : 2;
    /// <summary>The user's input column, for error messages.</summary>
    public string? Column { get; init; }
    public EncodingPlan? Encode { get; init; }
    public DecodingPlan? Decode { get; init; }

    public string ToBase64() => Convert.ToBase64String(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(this, Json)));

    public static SavedStage FromBase64(string text)
    {
        SavedStage? s;
        try
        {
            s = JsonSerializer.Deserialize<SavedStage>(Encoding.UTF8.GetString(Convert.FromBase64String(text)), Json);
        }
        catch (Exception e) when (e is FormatException or JsonException)
        {
            throw new InvalidDataException("The saved WF-VAE stage description is corrupt: " + e.Message, e);
        }
        if (s is null || s.Model is null)
            throw new InvalidDataException("The saved WF-VAE stage description is empty.");
        if (s.Version > CurrentVersion)
            throw new InvalidDataException($"This ML.NET model was saved by a newer WfVae.MLNet (stage format {s.Version}; this build reads up to {CurrentVersion}).");
        return s;
    }
}
