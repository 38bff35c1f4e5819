using System.Text.Json;
using System.Text.Json.Nodes;

namespace WfVae;

/// <summary>Normalisation used in every block (<c>norm_type</c> in config.json).</summary>
public enum NormType
{
    /// <summary>LayerNorm over channels per voxel (the released checkpoints); chunked inference is exact.</summary>
    LayerNorm,
    /// <summary>GroupNorm(32) over C/32×T×H×W (the class default); chunked inference is approximate.</summary>
    GroupNorm,
}

/// <summary>Temporal interpolation inside the 3D upsampler (<c>t_interpolation</c>).</summary>
public enum TemporalInterpolation
{
    /// <summary>Linear in time, align_corners=False, edge-clamped.</summary>
    Trilinear,
    /// <summary>Each frame repeated twice.</summary>
    Nearest,
}

/// <summary>
/// The official <c>WFVAEModel</c> config.json (modeling_wfvae.py). Every field is read; values the official
/// class would not accept, or layouts this port does not implement, are rejected with a message naming the field.
/// </summary>
public sealed record WfVaeConfig
{
    public int LatentDim { get; init; } = 8;
    public int BaseChannels { get; init; } = 128;
    public int EncoderNumResBlocks { get; init; } = 2;
    public int EncoderEnergyFlowHiddenSize { get; init; } = 64;
    public int DecoderNumResBlocks { get; init; } = 2;
    public int DecoderEnergyFlowHiddenSize { get; init; } = 128;
    public string AttentionType { get; init; } = "AttnBlock3DFix";
    public bool UseAttention { get; init; } = true;
    public double Dropout { get; init; }
    public NormType NormType { get; init; } = NormType.GroupNorm;
    public TemporalInterpolation TInterpolation { get; init; } = TemporalInterpolation.Nearest;
    public int ConnectResLayerNum { get; init; } = 1;
    /// <summary>Vestigial in the official model (never applied); kept for round-tripping config.json.</summary>
    public IReadOnlyList<double> Scale { get; init; } = [0.18215, 0.18215, 0.18215, 0.18215];
    /// <summary>Vestigial in the official model (never applied); kept for round-tripping config.json.</summary>
    public IReadOnlyList<double> Shift { get; init; } = [0, 0, 0, 0];
    public string L1DownsampleBlock { get; init; } = "Downsample";
    public string L1DownsampleWavelet { get; init; } = "HaarWaveletTransform2D";
    public string L2DownsampleBlock { get; init; } = "Spatial2xTime2x3DDownsample";
    public string L2DownsampleWavelet { get; init; } = "HaarWaveletTransform3D";
    public string L1UpsampleBlock { get; init; } = "Upsample";
    public string L1UpsampleWavelet { get; init; } = "InverseHaarWaveletTransform2D";
    public string L2UpsampleBlock { get; init; } = "Spatial2xTime2x3DUpsample";
    public string L2UpsampleWavelet { get; init; } = "InverseHaarWaveletTransform3D";
    public string ClassName { get; init; } = "WFVAEModel";
    public string? DiffusersVersion { get; init; }

    /// <summary>
    /// Video frames per latent frame after the first: the input wavelet and each downsample block that halves time
    /// (4 for the released layout).
    /// </summary>
    public int TemporalCompression => 2 * TemporalFactorOf(L1DownsampleBlock) * TemporalFactorOf(L2DownsampleBlock);
    /// <summary>Pixels per latent pixel along H and W: the input wavelet and both downsample blocks (8 for the released layout).</summary>
    public int SpatialCompression => 2 * SpatialFactorOf(L1DownsampleBlock) * SpatialFactorOf(L2DownsampleBlock);
    /// <summary>The frame-count and size rules these compression factors imply.</summary>
    public VideoShapeRules ShapeRules => new(TemporalCompression, SpatialCompression);

    private static int TemporalFactorOf(string block) => block switch
    {
        "Spatial2xTime2x3DDownsample" => 2,
        "Downsample" => 1,
        _ => throw new WfVaeConfigException($"downsample block '{block}' has no known compression factors."),
    };

    private static int SpatialFactorOf(string block) => block switch
    {
        "Spatial2xTime2x3DDownsample" or "Downsample" => 2,
        _ => throw new WfVaeConfigException($"downsample block '{block}' has no known compression factors."),
    };

    /// <summary>Reads and validates a config.json file.</summary>
    public static WfVaeConfig Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"WF-VAE config not found: '{path}'.", path);
        try { return Parse(File.ReadAllText(path)); }
        catch (WfVaeConfigException e) { throw new WfVaeConfigException($"{path}: {e.Message}", e); }
        catch (JsonException e) { throw new WfVaeConfigException($"{path}: not valid JSON: {e.Message}", e); }
    }

    /// <summary>Parses and validates config.json text.</summary>
    public static WfVaeConfig Parse(string json)
    {
        var node = JsonNode.Parse(json) as JsonObject
            ?? throw new WfVaeConfigException("config.json must hold a JSON object.");
        var c = new WfVaeConfig();
        foreach (var (key, value) in node)
        {
            c = key switch
            {
                "_class_name" => c with { ClassName = Str(key, value) },
                "_diffusers_version" => c with { DiffusersVersion = Str(key, value) },
                "_name_or_path" => c,
                "latent_dim" => c with { LatentDim = Int(key, value) },
                "base_channels" => c with { BaseChannels = Int(key, value) },
                "encoder_num_resblocks" => c with { EncoderNumResBlocks = Int(key, value) },
                "encoder_energy_flow_hidden_size" => c with { EncoderEnergyFlowHiddenSize = Int(key, value) },
                "decoder_num_resblocks" => c with { DecoderNumResBlocks = Int(key, value) },
                "decoder_energy_flow_hidden_size" => c with { DecoderEnergyFlowHiddenSize = Int(key, value) },
                "attention_type" => c with { AttentionType = Str(key, value) },
                "use_attention" => c with { UseAttention = Bool(key, value) },
                "dropout" => c with { Dropout = Num(key, value) },
                "norm_type" => c with { NormType = Str(key, value) switch
                {
                    "layernorm" => NormType.LayerNorm,
                    "groupnorm" => NormType.GroupNorm,
                    var s => throw new WfVaeConfigException($"norm_type '{s}' is not supported; valid: \"layernorm\", \"groupnorm\"."),
                } },
                "t_interpolation" => c with { TInterpolation = Str(key, value) switch
                {
                    "trilinear" => TemporalInterpolation.Trilinear,
                    "nearest" => TemporalInterpolation.Nearest,
                    var s => throw new WfVaeConfigException($"t_interpolation '{s}' is not supported; valid: \"trilinear\", \"nearest\"."),
                } },
                "connect_res_layer_num" => c with { ConnectResLayerNum = Int(key, value) },
                "scale" => c with { Scale = NumList(key, value) },
                "shift" => c with { Shift = NumList(key, value) },
                "l1_dowmsample_block" => c with { L1DownsampleBlock = Str(key, value) },
                "l1_downsample_wavelet" => c with { L1DownsampleWavelet = Str(key, value) },
                "l2_dowmsample_block" => c with { L2DownsampleBlock = Str(key, value) },
                "l2_downsample_wavelet" => c with { L2DownsampleWavelet = Str(key, value) },
                "l1_upsample_block" => c with { L1UpsampleBlock = Str(key, value) },
                "l1_upsample_wavelet" => c with { L1UpsampleWavelet = Str(key, value) },
                "l2_upsample_block" => c with { L2UpsampleBlock = Str(key, value) },
                "l2_upsample_wavelet" => c with { L2UpsampleWavelet = Str(key, value) },
                _ => throw new WfVaeConfigException($"unknown config field '{key}'; WFVAEModel takes latent_dim, base_channels, encoder_num_resblocks, encoder_energy_flow_hidden_size, decoder_num_resblocks, decoder_energy_flow_hidden_size, attention_type, use_attention, dropout, norm_type, t_interpolation, connect_res_layer_num, scale, shift and the l1/l2 block and wavelet names."),
            };
        }
        c.Validate();
        return c;
    }

    /// <summary>Throws <see cref="WfVaeConfigException"/> naming the first invalid field.</summary>
    public void Validate()
    {
        if (ClassName != "WFVAEModel")
            throw new WfVaeConfigException($"_class_name '{ClassName}' is not supported; this port implements \"WFVAEModel\" (modeling_wfvae.py). WFVAE2Model checkpoints use other module names.");
        Positive("latent_dim", LatentDim);
        Positive("base_channels", BaseChannels);
        Positive("encoder_num_resblocks", EncoderNumResBlocks);
        Positive("encoder_energy_flow_hidden_size", EncoderEnergyFlowHiddenSize);
        Positive("decoder_num_resblocks", DecoderNumResBlocks);
        Positive("decoder_energy_flow_hidden_size", DecoderEnergyFlowHiddenSize);
        if (ConnectResLayerNum < 0) throw new WfVaeConfigException($"connect_res_layer_num must be ≥ 0, got {ConnectResLayerNum}.");
        // Bounds far above any released model, so an untrusted config.json fails here instead of building modules for minutes.
        AtMost("latent_dim", LatentDim, 1024);
        AtMost("base_channels", BaseChannels, 4096);
        AtMost("encoder_num_resblocks", EncoderNumResBlocks, 64);
        AtMost("decoder_num_resblocks", DecoderNumResBlocks, 64);
        AtMost("encoder_energy_flow_hidden_size", EncoderEnergyFlowHiddenSize, 4096);
        AtMost("decoder_energy_flow_hidden_size", DecoderEnergyFlowHiddenSize, 4096);
        AtMost("connect_res_layer_num", ConnectResLayerNum, 64);
        // The decoder's mid and up2 resblocks alone hold (2 + decoder_num_resblocks) × 2 convs of (4·base)² × 27 weights.
        double atLeast = (2.0 + DecoderNumResBlocks) * 2 * Math.Pow(4.0 * BaseChannels, 2) * 27;
        if (atLeast > MaxParameters)
            throw new WfVaeConfigException($"base_channels {BaseChannels} with decoder_num_resblocks {DecoderNumResBlocks} makes a model of at least {atLeast:E2} parameters, above the {MaxParameters:E0} this library builds.");
        if (Dropout < 0 || Dropout >= 1) throw new WfVaeConfigException($"dropout must be in [0, 1), got {Dropout}.");
        if (AttentionType != "AttnBlock3DFix")
            throw new WfVaeConfigException($"attention_type '{AttentionType}' is not supported; valid: \"AttnBlock3DFix\".");
        Expect("l1_dowmsample_block", L1DownsampleBlock, "Downsample");
        Expect("l1_downsample_wavelet", L1DownsampleWavelet, "HaarWaveletTransform2D");
        Expect("l2_dowmsample_block", L2DownsampleBlock, "Spatial2xTime2x3DDownsample");
        Expect("l2_downsample_wavelet", L2DownsampleWavelet, "HaarWaveletTransform3D");
        Expect("l1_upsample_block", L1UpsampleBlock, "Upsample");
        Expect("l1_upsample_wavelet", L1UpsampleWavelet, "InverseHaarWaveletTransform2D");
        Expect("l2_upsample_block", L2UpsampleBlock, "Spatial2xTime2x3DUpsample");
        Expect("l2_upsample_wavelet", L2UpsampleWavelet, "InverseHaarWaveletTransform3D");
        if (NormType == NormType.GroupNorm)
        {
            // GroupNorm(32, C) needs every normalised width divisible by 32.
            foreach (var (name, ch) in new[]
            {
                ("base_channels", BaseChannels), ("encoder_energy_flow_hidden_size", EncoderEnergyFlowHiddenSize),
                ("decoder_energy_flow_hidden_size", DecoderEnergyFlowHiddenSize),
            })
                if (ch % 32 != 0)
                    throw new WfVaeConfigException($"norm_type \"groupnorm\" uses 32 groups, so {name} must be a multiple of 32, got {ch}.");
        }
    }

    /// <summary>Serialises to the official config.json format.</summary>
    public string ToJson()
    {
        var o = new JsonObject
        {
            ["_class_name"] = ClassName,
            ["_diffusers_version"] = DiffusersVersion ?? "0.30.2",
            ["attention_type"] = AttentionType,
            ["base_channels"] = BaseChannels,
            ["connect_res_layer_num"] = ConnectResLayerNum,
            ["decoder_energy_flow_hidden_size"] = DecoderEnergyFlowHiddenSize,
            ["decoder_num_resblocks"] = DecoderNumResBlocks,
            ["dropout"] = Dropout,
            ["encoder_energy_flow_hidden_size"] = EncoderEnergyFlowHiddenSize,
            ["encoder_num_resblocks"] = EncoderNumResBlocks,
            ["l1_dowmsample_block"] = L1DownsampleBlock,
            ["l1_downsample_wavelet"] = L1DownsampleWavelet,
            ["l1_upsample_block"] = L1UpsampleBlock,
            ["l1_upsample_wavelet"] = L1UpsampleWavelet,
            ["l2_dowmsample_block"] = L2DownsampleBlock,
            ["l2_downsample_wavelet"] = L2DownsampleWavelet,
            ["l2_upsample_block"] = L2UpsampleBlock,
            ["l2_upsample_wavelet"] = L2UpsampleWavelet,
            ["latent_dim"] = LatentDim,
            ["norm_type"] = NormType == NormType.LayerNorm ? "layernorm" : "groupnorm",
            ["scale"] = new JsonArray(Scale.Select(v => (JsonNode)JsonValue.Create(v)!).ToArray()),
            ["shift"] = new JsonArray(Shift.Select(v => (JsonNode)JsonValue.Create(v)!).ToArray()),
            ["t_interpolation"] = TInterpolation == TemporalInterpolation.Trilinear ? "trilinear" : "nearest",
            ["use_attention"] = UseAttention,
        };
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>Most parameters a config may ask for (about 8 GB of fp32 weights).</summary>
    public const double MaxParameters = 2e9;

    private static void AtMost(string name, int v, int most)
    {
        if (v > most) throw new WfVaeConfigException($"{name} {v} is above the largest supported value, {most}.");
    }

    private static void Positive(string name, int v)
    {
        if (v <= 0) throw new WfVaeConfigException($"{name} must be a positive integer, got {v}.");
    }

    private static void Expect(string field, string value, string supported)
    {
        if (value != supported)
            throw new WfVaeConfigException($"{field} '{value}' is not supported by this port; valid: \"{supported}\" (the 4×8×8 layout of the released checkpoints).");
    }

    private static JsonValue Val(string key, JsonNode? v) =>
        v as JsonValue ?? throw new WfVaeConfigException($"config field '{key}' must be a scalar, got {v?.ToJsonString() ?? "null"}.");

    private static int Int(string key, JsonNode? v)
    {
        var jv = Val(key, v);
        if (jv.TryGetValue<int>(out var i)) return i;
        if (jv.TryGetValue<double>(out var d) && d == Math.Floor(d) && Math.Abs(d) < int.MaxValue) return (int)d;
        throw new WfVaeConfigException($"config field '{key}' must be an integer, got {jv.ToJsonString()}.");
    }

    private static double Num(string key, JsonNode? v)
    {
        var jv = Val(key, v);
        if (jv.TryGetValue<double>(out var d)) return d;
        throw new WfVaeConfigException($"config field '{key}' must be a number, got {jv.ToJsonString()}.");
    }

    private static bool Bool(string key, JsonNode? v)
    {
        var jv = Val(key, v);
        if (jv.TryGetValue<bool>(out var b)) return b;
        throw new WfVaeConfigException($"config field '{key}' must be true or false, got {jv.ToJsonString()}.");
    }

    private static string Str(string key, JsonNode? v)
    {
        var jv = Val(key, v);
        if (jv.TryGetValue<string>(out var s)) return s;
        throw new WfVaeConfigException($"config field '{key}' must be a string, got {jv.ToJsonString()}.");
    }

    private static IReadOnlyList<double> NumList(string key, JsonNode? v) =>
        v is JsonArray a ? a.Select(e => Num(key, e)).ToArray()
            : throw new WfVaeConfigException($"config field '{key}' must be a list of numbers, got {v?.ToJsonString() ?? "null"}.");
}

/// <summary>An invalid or unsupported WF-VAE config.</summary>
public sealed class WfVaeConfigException : Exception
{
    public WfVaeConfigException(string message) : base(message) { }
    public WfVaeConfigException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>Which halves of a <see cref="WfVaeModel"/> to build or load.</summary>
[Flags]
public enum WfVaeComponents
{
    /// <summary>The encoder only: <see cref="WfVaeModel.Encode"/> works, decoding throws.</summary>
    Encoder = 1,
    /// <summary>The decoder only: <see cref="WfVaeModel.Decode"/> works, encoding throws.</summary>
    Decoder = 2,
    /// <summary>Both halves (the default).</summary>
    All = Encoder | Decoder,
}
