using System.Diagnostics.CodeAnalysis;
using TorchSharp;
using WfVae.Files;
using WfVae.Modules;
using static TorchSharp.torch;

namespace WfVae;

/// <summary>
/// WF-VAE (Wavelet Flow VAE, arXiv 2411.17459): the official <c>WFVAEModel</c> in TorchSharp.
/// Video is (B, 3, T, H, W) in [-1, 1] with T = 1 + 4k and H, W multiples of 8; latents are
/// (B, z, (T−1)/4 + 1, H/8, W/8). Instances are thread-safe for inference: all per-video state lives in
/// caller-owned <see cref="CausalCache"/> objects.
/// </summary>
public sealed class WfVaeModel : IDisposable
{
    /// <summary>File names of the Hugging Face layout.</summary>
    public const string ConfigFileName = "config.json", WeightsFileName = "diffusion_pytorch_model.safetensors";

    private readonly WfVaeNetwork _net;
    private bool _disposed;

    /// <summary>The model's configuration.</summary>
    public WfVaeConfig Config { get; }
    /// <summary>Device holding the weights.</summary>
    public Device Device { get; private set; }
    /// <summary>Floating-point type of the encoder's weights and activations (see <see cref="DecodeDType"/>).</summary>
    public ScalarType DType => EncodeDType;
    /// <summary>Floating-point type of the encoder's weights and activations (norms stay Float32).</summary>
    public ScalarType EncodeDType { get; private set; } = ScalarType.Float32;
    /// <summary>Floating-point type of the decoder's weights and activations (norms stay Float32).</summary>
    public ScalarType DecodeDType { get; private set; } = ScalarType.Float32;

    /// <summary>Pass as the chunking of <see cref="Encode"/> / <see cref="Decode"/> to process the whole video in one call.</summary>
    public static readonly Chunking WholeVideo = Chunking.Whole;
    /// <summary>Videos longer than this are encoded/decoded chunk by chunk when the caller passes no chunk size.</summary>
    public const int AutoChunkAboveFrames = 17;
    /// <summary>Latent frames each chunk of the automatic chunked encode produces.</summary>
    public const int DefaultEncodeChunkLatentFrames = 4;
    /// <summary>Video frames per chunk of the automatic chunked encode (16 for the released 4× temporal compression).</summary>
    public int DefaultEncodeChunkFrames => DefaultEncodeChunkLatentFrames * ShapeRules.TemporalFactor;
    /// <summary>The frame-count and size rules of this model's compression factors.</summary>
    public VideoShapeRules ShapeRules { get; }
    /// <summary>
    /// Latent frames per chunk of the automatic chunked decode (each makes 4 video frames). One latent frame per chunk
    /// measured the same CPU time as two (WF-VAE-L, 33×256²: 266 vs 263 CPU s) at ~300 MB lower peak memory.
    /// </summary>
    public const int DefaultDecodeChunkLatentFrames = 1;
    private WfVaeInferenceOptions _inference = WfVaeInferenceOptions.Default;

    /// <summary>
    /// How inference runs (chunking defaults, kernel choices). Replacing it is atomic: a call in flight keeps the
    /// options it started with.
    /// </summary>
    public WfVaeInferenceOptions Inference
    {
        get => Volatile.Read(ref _inference);
        set
        {
            var options = (value ?? throw new ArgumentNullException(nameof(value))).Validated();
            if (options.EncodeChunking.Mode == ChunkingMode.Frames)
                ShapeRules.ValidateChunkFrames(options.EncodeChunking.Frames, "WfVaeInferenceOptions.EncodeChunking", nameof(WfVaeInferenceOptions.EncodeChunking));
            options.Tiling.Validated(ShapeRules.SpatialFactor);
            Volatile.Write(ref _inference, options);
        }
    }

    /// <summary>Sets <see cref="Inference"/>; returns this.</summary>
    public WfVaeModel WithInference(WfVaeInferenceOptions options)
    {
        Inference = options;
        return this;
    }

    private ForwardPass InferencePass(CausalCache? cache) => new(Inference, cache, inference: true);

    /// <summary>The folder the weights were loaded from, if any.</summary>
    public string? SourceDirectory { get; private init; }

    private WfVaeModel(WfVaeConfig config, Device device, WfVaeComponents components = WfVaeComponents.All, Generator? initialWeights = null)
    {
        config.Validate();
        if (components is not (WfVaeComponents.Encoder or WfVaeComponents.Decoder or WfVaeComponents.All))
            throw new ArgumentException($"components {components} is not valid; use Encoder, Decoder or All.", nameof(components));
        Config = config;
        ShapeRules = config.ShapeRules;
        Components = components;
        _net = new WfVaeNetwork(config, components);
        // Drawn on the CPU before any move, so a seed gives the same weights on every device.
        if (initialWeights is not null)
        {
            // Every trainable conv weight (norm weights are 1-D) with its bias; the frozen Haar filters keep their constants.
            var parameters = _net.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            foreach (var (name, w) in parameters.Where(p => p.Value.requires_grad && p.Value.dim() >= 3 && p.Key.EndsWith("weight", StringComparison.Ordinal)))
                ConvWeights.InitialiseDefault(w, parameters.GetValueOrDefault(name[..^"weight".Length] + "bias"), initialWeights);
        }
        // The weights belong to the model: a caller's open dispose scope must not free them when it closes.
        foreach (var p in _net.parameters()) p.DetachFromDisposeScope();
        foreach (var b in _net.buffers()) b.DetachFromDisposeScope();
        _net.eval();
        Device = device;
        if (device.type != DeviceType.CPU) _net.to(device);
    }

    internal WfVaeNetwork Network => _net;

    /// <summary>Which halves of the model are in memory (<see cref="WfVaeComponents.All"/> unless loaded otherwise).</summary>
    public WfVaeComponents Components { get; }

    /// <summary>The encoder, or a clear error when this model was loaded without it.</summary>
    internal WfVaeEncoder EncoderNet => _net.encoder ?? throw new InvalidOperationException(
        $"this WF-VAE was loaded with components {Components}, without its encoder; load it with WfVaeComponents.All or Encoder to encode.");

    /// <summary>The decoder, or a clear error when this model was loaded without it.</summary>
    internal WfVaeDecoder DecoderNet => _net.decoder ?? throw new InvalidOperationException(
        $"this WF-VAE was loaded with components {Components}, without its decoder; load it with WfVaeComponents.All or Decoder to decode.");

    /// <summary>
    /// Builds a model with PyTorch-default random weights drawn from a generator seeded with <paramref name="seed"/>
    /// (the global torch RNG is neither read nor advanced), e.g. for benchmarks or training from scratch.
    /// </summary>
    /// <param name="config">The model configuration.</param>
    /// <param name="seed">Seed of the weight initialisation.</param>
    /// <param name="device">Device for the weights (default CPU).</param>
    /// <param name="components">Build only the encoder or only the decoder to save memory (see <see cref="Load"/>).</param>
    public static WfVaeModel Create(WfVaeConfig config, long seed = 0, Device? device = null, WfVaeComponents components = WfVaeComponents.All)
    {
        using var initialWeights = new Generator(unchecked((ulong)seed));
        return new WfVaeModel(config, ResolveDevice(device), components, initialWeights);
    }

    /// <summary>
    /// Loads a checkpoint folder in the Hugging Face layout (config.json + diffusion_pytorch_model.safetensors)
    /// strictly: a missing, unexpected or wrongly shaped tensor is an error naming the key and both shapes.
    /// Only the fixed Haar filters may be absent (they are constants the model rebuilds).
    /// </summary>
    /// <param name="directory">The model folder.</param>
    /// <param name="device">Device for the weights (default CPU).</param>
    /// <param name="components">
    /// <see cref="WfVaeComponents.Decoder"/> (or <see cref="WfVaeComponents.Encoder"/>) reads only that half's
    /// weights: a job that only decodes latents (or only encodes video) needs about three quarters (a quarter) of
    /// the memory for weights. The checkpoint is still checked against the config for the half that is read.
    /// </param>
    public static WfVaeModel Load(string directory, Device? device = null, WfVaeComponents components = WfVaeComponents.All)
    {
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"WF-VAE model folder not found: '{directory}'. Expected a folder with {ConfigFileName} and {WeightsFileName}.");
        string cfgPath = Path.Combine(directory, ConfigFileName), wPath = Path.Combine(directory, WeightsFileName);
        if (!File.Exists(cfgPath)) throw new FileNotFoundException($"'{directory}' has no {ConfigFileName}; a WF-VAE folder holds {ConfigFileName} and {WeightsFileName}.", cfgPath);
        if (!File.Exists(wPath)) throw new FileNotFoundException($"'{directory}' has no {WeightsFileName}; a WF-VAE folder holds {ConfigFileName} and {WeightsFileName}.", wPath);
        var config = WfVaeConfig.Load(cfgPath);
        var model = new WfVaeModel(config, CPU, components) { SourceDirectory = Path.GetFullPath(directory) };
        try
        {
            model.LoadWeights(wPath);
            var dev = ResolveDevice(device);
            if (dev.type != DeviceType.CPU) { model._net.to(dev); model.Device = dev; }
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Loads weights from a safetensors file with official key names (strict, see <see cref="Load"/>). Names, shapes and
    /// dtypes are checked before anything is copied; a tensor holding NaN/Inf stops the copy part-way (Load then disposes the model).
    /// </summary>
    public void LoadWeights(string safetensorsPath)
    {
        using var reader = new SafetensorsReader(safetensorsPath);
        var target = _net.state_dict();
        var errors = new List<string>();
        foreach (var (key, t) in target)
        {
            if (reader.Entries.TryGetValue(key, out var e))
            {
                if (!e.Shape.SequenceEqual(t.shape))
                    errors.Add($"'{key}': checkpoint has shape {e.ShapeText} but the config expects [{string.Join(",", t.shape)}]");
                else if (!e.DType.StartsWith('F') && e.DType != "BF16")
                    errors.Add($"'{key}': dtype {e.DType} is not floating point");
            }
            else if (!IsHaarConstant(key))
                errors.Add($"missing key '{key}' (expected shape [{string.Join(",", t.shape)}])");
        }
        foreach (var key in reader.Entries.Keys)
            if (!target.ContainsKey(key) && !IsOfAbsentComponent(key))
                errors.Add($"unexpected key '{key}' with shape {reader.Entries[key].ShapeText} (not part of WFVAEModel for this config)");
        if (errors.Count > 0)
            throw new WfVaeCheckpointException($"'{safetensorsPath}' does not match {ConfigFileName} ({errors.Count} problem{(errors.Count == 1 ? "" : "s")}): " +
                string.Join("; ", errors.Take(12)) + (errors.Count > 12 ? $"; … and {errors.Count - 12} more" : "") + ".");
        using (no_grad())
        {
            foreach (var (key, t) in target)
            {
                if (!reader.Entries.ContainsKey(key)) continue;
                using var scope = NewDisposeScope();
                var src = reader.Read(key);
                if (src.is_floating_point() && !src.isfinite().all().item<bool>())
                    throw new WfVaeCheckpointException($"'{safetensorsPath}': tensor '{key}' holds NaN or Inf values; the checkpoint is damaged (the model would compute NaN).");
                t.copy_(src);
            }
        }
    }

    /// <summary>Keys of the half this model was loaded without are expected in the file and skipped.</summary>
    private bool IsOfAbsentComponent(string key) =>
        (_net.encoder is null && key.StartsWith("encoder.", StringComparison.Ordinal)) ||
        (_net.decoder is null && key.StartsWith("decoder.", StringComparison.Ordinal));

    private static bool IsHaarConstant(string key) =>
        key.Contains(".wavelet_transform_", StringComparison.Ordinal) || key.Contains(".inverse_wavelet_transform_", StringComparison.Ordinal);

    /// <summary>Writes config.json and diffusion_pytorch_model.safetensors (all official keys, fp32 or <paramref name="storage"/>).</summary>
    public void Save(string directory, ScalarType storage = ScalarType.Float32, IReadOnlyDictionary<string, string>? metadata = null)
    {
        if (Components != WfVaeComponents.All)
            throw new InvalidOperationException($"this WF-VAE holds only its {Components} (loaded with components {Components}); saving it would write an incomplete checkpoint. Load it with WfVaeComponents.All to save.");
        WriteFolder(directory, Config, _net.state_dict(), storage, metadata);
    }

    /// <summary>Writes a model folder (weights, then config.json, each replaced atomically) from any state dict of <paramref name="config"/>'s network.</summary>
    internal static void WriteFolder(string directory, WfVaeConfig config, IEnumerable<KeyValuePair<string, Tensor>> stateDict, ScalarType storage, IReadOnlyDictionary<string, string>? metadata)
    {
        Directory.CreateDirectory(directory);
        using var scope = NewDisposeScope();
        var sd = stateDict.Select(kv => new KeyValuePair<string, Tensor>(kv.Key, kv.Value.detach().to(storage, CPU))).ToList();
        SafetensorsWriter.Write(Path.Combine(directory, WeightsFileName), sd, metadata);
        AtomicFileWriter.WriteAllText(Path.Combine(directory, ConfigFileName), config.ToJson());
    }

    /// <summary>
    /// SHA-256 (lower-case hex) of the weights file this model was loaded from, or, for a model made in memory, of its
    /// parameter names and bytes in order: what identifies the weights in records such as a latent dataset's.
    /// </summary>
    public string WeightsSha256()
    {
        ThrowIfDisposed();
        if (SourceDirectory is { } dir && File.Exists(Path.Combine(dir, WeightsFileName)))
        {
            using var fs = File.OpenRead(Path.Combine(dir, WeightsFileName));
            return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(fs));
        }
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        foreach (var (name, p) in _net.named_parameters())
        {
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes(name));
            using var cpu = p.detach().cpu().contiguous();
            hash.AppendData(cpu.bytes);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>Number of parameters (including the 128 frozen Haar weights, as the official count does).</summary>
    public long ParameterCount => _net.parameters().Sum(p => p.numel());

    /// <summary>Parameters of the encoder only.</summary>
    public long EncoderParameterCount => _net.encoder?.parameters().Sum(p => p.numel()) ?? 0;

    /// <summary>Latent shape (B, z, t, h, w) for a video of the given shape (which must be valid).</summary>
    public long[] LatentShape(long batch, long frames, long height, long width)
    {
        ShapeRules.Validate(frames, height, width);
        return [batch, Config.LatentDim, ShapeRules.LatentFrames(frames), ShapeRules.LatentSide(height), ShapeRules.LatentSide(width)];
    }

    /// <summary>Casts weights and activations to <paramref name="dtype"/> (Float32 or BFloat16); returns this.</summary>
    public WfVaeModel ToDType(ScalarType dtype) => ToDType(dtype, dtype);

    /// <summary>
    /// Casts the encoder and the decoder separately (e.g. Float32 encode, BFloat16 decode); returns this. Under
    /// BFloat16 the norm parameters stay Float32 (norms compute in Float32), and latents/reconstructions are
    /// returned as Float32.
    /// </summary>
    public WfVaeModel ToDType(ScalarType encodeDType, ScalarType decodeDType)
    {
        foreach (var (dtype, name) in new[] { (encodeDType, nameof(encodeDType)), (decodeDType, nameof(decodeDType)) })
            if (dtype != ScalarType.Float32 && dtype != ScalarType.BFloat16 && dtype != ScalarType.Float64)
                throw new ArgumentException($"dtype {dtype} is not supported; use Float32, BFloat16 or Float64.", name);
        if (_net.encoder is not null) Precision.Cast(_net.encoder, encodeDType);
        if (_net.decoder is not null) Precision.Cast(_net.decoder, decodeDType);
        EncodeDType = encodeDType;
        DecodeDType = decodeDType;
        return this;
    }

    // ---------------------------------------------------------------- encode

    /// <summary>
    /// Encodes a whole video, or chunk by chunk through the Causal Cache (frame 0 alone, then that many frames per
    /// chunk, a multiple of 4); both give the same latents. <paramref name="chunkFrames"/> null uses
    /// <see cref="WfVaeInferenceOptions.EncodeChunking"/>; automatic chunking splits videos longer than
    /// <see cref="AutoChunkAboveFrames"/> frames into chunks of <see cref="DefaultEncodeChunkFrames"/> (memory of one chunk).
    /// </summary>
    public LatentDistribution Encode(Tensor video, Chunking? chunkFrames = null)
    {
        ThrowIfDisposed();
        CheckVideo(video, "video");
        long t = video.shape[2];
        ShapeRules.Validate(t, video.shape[3], video.shape[4]);
        var chunking = chunkFrames ?? Inference.EncodeChunking;
        int? step = chunking.Mode switch
        {
            ChunkingMode.Whole => null,
            ChunkingMode.Frames => CheckEncodeChunk(chunking.Frames),
            _ => t > AutoChunkAboveFrames ? DefaultEncodeChunkFrames : null,
        };
        using var mode = inference_mode();
        using var scope = NewDisposeScope();
        var x = video.to(EncodeDType, Device);
        // Tiled: the whole temporal loop runs tile by tile, so only one tile's cache and activations are alive.
        var plan = TilePlan.For(Inference.Tiling, x.shape[3], x.shape[4], ShapeRules.SpatialFactor, decode: false);
        var moments = plan is null ? EncodeFrames(x, step) : plan.Blend(x, (_, tile) => EncodeFrames(tile, step));
        return ToPosterior(moments);
    }

    /// <summary>Untiled moments of a whole video: one call, or the chunk schedule of <paramref name="step"/> frames.</summary>
    private Tensor EncodeFrames(Tensor x, int? step)
    {
        if (step is not int n) return EncoderNet.Forward(x, InferencePass(null), out _, out _);
        using var cache = new CausalCache(CacheDirection.Encode, SpatialTiling.Off);
        var parts = new List<Tensor>();
        foreach (var (s, len) in ChunkSchedule(x.shape[2], n))
            parts.Add(EncodeMoments(x.narrow(2, s, len), cache));
        return torch.cat(parts, 2);
    }

    /// <summary>
    /// Creates the cache for encoding one video chunk by chunk. <paramref name="tiling"/> fixes this video's spatial
    /// tiling (null: the model's <see cref="WfVaeInferenceOptions.Tiling"/> when the first chunk arrives).
    /// </summary>
    public CausalCache CreateEncoderCache(SpatialTiling? tiling = null) => new(CacheDirection.Encode, tiling?.Validated(ShapeRules.SpatialFactor, "tiling"));

    /// <summary>
    /// Encodes the next chunk of a video: the first chunk holds 1 + 4k frames (usually just frame 0), every later
    /// chunk a positive multiple of 4 frames. Returns the posterior of the latent frames this chunk produces.
    /// </summary>
    public LatentDistribution EncodeChunk(Tensor chunk, CausalCache cache)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(cache);
        if (cache.Direction != CacheDirection.Encode) throw new ArgumentException("this cache was made for decoding; use CreateEncoderCache().", nameof(cache));
        CheckVideo(chunk, "chunk");
        using var mode = inference_mode();
        using var scope = NewDisposeScope();
        var moments = EncodeMoments(chunk.to(EncodeDType, Device), cache);
        return ToPosterior(moments);
    }

    private Tensor EncodeMoments(Tensor x, CausalCache cache)
    {
        long t = x.shape[2];
        if (cache.ChunksProcessed == 0) ShapeRules.Validate(t, x.shape[3], x.shape[4], "first chunk");
        else if (!ShapeRules.IsValidChunkFrames(t))
            throw new ArgumentException($"chunk {cache.ChunksProcessed} has {t} frames; every chunk after the first must hold a positive multiple of {ShapeRules.TemporalFactor} frames (e.g. {ShapeRules.ChunkExamples}).");
        if (cache.ChunksProcessed == 0) ChooseTiles(cache, x, decode: false);
        CheckSameFrameShape(x, cache, "chunk");
        var moments = cache.TilePlan is { } plan
            ? plan.Blend(x, (i, tile) => EncodeMoments(tile, cache.TileCaches![i]))
            : EncoderNet.Forward(x, InferencePass(cache), out _, out _);
        cache.ChunksProcessed++;
        cache.FramesProcessed += t;
        return moments;
    }

    // ---------------------------------------------------------------- decode

    /// <summary>
    /// Decodes latents (B, z, t, h, w) to video (B, 3, 4(t−1)+1, 8h, 8w), whole or through the Causal Cache with
    /// that many latent frames per chunk after frame 0. <paramref name="chunkLatentFrames"/> null uses
    /// <see cref="WfVaeInferenceOptions.DecodeChunking"/>; automatic chunking decodes latents of videos longer than
    /// <see cref="AutoChunkAboveFrames"/> frames <see cref="DefaultDecodeChunkLatentFrames"/> latent frame(s) at a time.
    /// </summary>
    public Tensor Decode(Tensor latent, Chunking? chunkLatentFrames = null)
    {
        ThrowIfDisposed();
        CheckLatent(latent, "latent");
        var chunking = chunkLatentFrames ?? Inference.DecodeChunking;
        int? step = chunking.Mode switch
        {
            ChunkingMode.Whole => null,
            ChunkingMode.Frames => chunking.Frames,
            _ => ShapeRules.VideoFrames(latent.shape[2]) > AutoChunkAboveFrames ? DefaultDecodeChunkLatentFrames : null,
        };
        using var mode = inference_mode();
        using var scope = NewDisposeScope();
        var z = latent.to(DecodeDType, Device);
        var plan = TilePlan.For(Inference.Tiling, z.shape[3], z.shape[4], ShapeRules.SpatialFactor, decode: true);
        var video = plan is null ? DecodeWhole(z, step) : plan.Blend(z, (_, tile) => DecodeWhole(tile, step));
        CheckFiniteDecode(video);
        return scope.MoveToOuter(video.to(ScalarType.Float32));
    }

    /// <summary>Untiled decode of a whole latent: one call, or the chunk schedule of <paramref name="step"/> latent frames.</summary>
    private Tensor DecodeWhole(Tensor z, int? step)
    {
        if (step is not int n) return DecoderNet.Forward(z, InferencePass(null), out _, out _);
        using var cache = new CausalCache(CacheDirection.Decode, SpatialTiling.Off);
        var parts = new List<Tensor>();
        var schedule = ChunkSchedule(z.shape[2], n).ToList();
        for (int i = 0; i < schedule.Count; i++)
            parts.Add(DecodeFrames(z.narrow(2, schedule[i].Start, schedule[i].Length), cache, i == schedule.Count - 1));
        return torch.cat(parts, 2);
    }

    /// <summary>
    /// Creates the cache for decoding one latent sequence chunk by chunk. <paramref name="tiling"/> fixes this video's
    /// spatial tiling (null: the model's <see cref="WfVaeInferenceOptions.Tiling"/> when the first chunk arrives).
    /// </summary>
    public CausalCache CreateDecoderCache(SpatialTiling? tiling = null) => new(CacheDirection.Decode, tiling?.Validated(ShapeRules.SpatialFactor, "tiling"));

    /// <summary>On a video's first chunk: the tiles of its frame size and one cache per tile, or nothing for whole frames.</summary>
    private void ChooseTiles(CausalCache cache, Tensor x, bool decode)
    {
        var plan = TilePlan.For(cache.Tiling ?? Inference.Tiling, x.shape[3], x.shape[4], ShapeRules.SpatialFactor, decode);
        if (plan is null) return;
        cache.TilePlan = plan;
        cache.TileCaches = [.. Enumerable.Range(0, plan.Count).Select(_ => new CausalCache(cache.Direction, SpatialTiling.Off))];
    }

    /// <summary>
    /// Decodes the next latent chunk (≥ 1 frame). Returns the video frames this chunk completes: with trilinear
    /// temporal upsampling the last frames of a chunk are emitted with the next chunk, and
    /// <paramref name="isLastChunk"/> flushes them. The frames of all calls concatenated equal <see cref="Decode"/>.
    /// </summary>
    public Tensor DecodeChunk(Tensor latentChunk, CausalCache cache, bool isLastChunk)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(cache);
        if (cache.Direction != CacheDirection.Decode) throw new ArgumentException("this cache was made for encoding; use CreateDecoderCache().", nameof(cache));
        CheckLatent(latentChunk, "latent chunk");
        using var mode = inference_mode();
        using var scope = NewDisposeScope();
        var video = DecodeFrames(latentChunk.to(DecodeDType, Device), cache, isLastChunk);
        CheckFiniteDecode(video);
        return scope.MoveToOuter(video.to(ScalarType.Float32));
    }

    private Tensor DecodeFrames(Tensor z, CausalCache cache, bool isLast)
    {
        if (cache.Completed) throw new InvalidOperationException("this decoder cache already processed its last chunk; create a new one for the next video.");
        if (cache.ChunksProcessed == 0) ChooseTiles(cache, z, decode: true);
        CheckSameFrameShape(z, cache, "latent chunk");
        cache.IsLastChunk = isLast;
        var video = cache.TilePlan is { } plan
            ? plan.Blend(z, (i, tile) => DecodeFrames(tile, cache.TileCaches![i], isLast))
            : DecoderNet.Forward(z, InferencePass(cache), out _, out _);
        cache.ChunksProcessed++;
        cache.FramesProcessed += z.shape[2];
        cache.Completed = isLast;
        return video;
    }

    /// <summary>Splits fp32 moments into the posterior, kept alive outside the caller's dispose scope.</summary>
    private static LatentDistribution ToPosterior(Tensor moments)
    {
        CheckFiniteOutput(moments, "latent encoded from the video", 0);
        var dist = new LatentDistribution(moments.to(ScalarType.Float32));
        dist.Mean.MoveToOuterDisposeScope();
        dist.LogVar.MoveToOuterDisposeScope();
        return dist;
    }

    /// <summary>Records (batch, H, W) on the first chunk; later chunks of the same video must match it.</summary>
    private static void CheckSameFrameShape(Tensor x, CausalCache cache, string what)
    {
        if (cache.ChunksProcessed == 0) { cache.FrameShape = [x.shape[0], x.shape[3], x.shape[4]]; return; }
        var s = cache.FrameShape!;
        if (x.shape[0] != s[0] || x.shape[3] != s[1] || x.shape[4] != s[2])
            throw new ArgumentException($"{what} {cache.ChunksProcessed} has batch {x.shape[0]} and size {x.shape[3]}×{x.shape[4]}, but the first chunk had batch {s[0]} and {s[1]}×{s[2]}.");
    }

    // ---------------------------------------------------------------- training entry points

    /// <summary>Full forward with gradients for training: returns (reconstruction, posterior moments, W2, W3, Ŵ2, Ŵ3).</summary>
    internal (Tensor Recon, Tensor Moments, Tensor EncL1, Tensor EncL2, Tensor DecL1, Tensor DecL2) TrainingForward(Tensor x, Tensor? noise, Generator dropoutRandom)
    {
        var pass = new ForwardPass(Inference, null, inference: false, dropoutRandom);
        var moments = EncoderNet.Forward(x, pass, out var el1, out var el2);
        var parts = moments.chunk(2, 1);
        var z = parts[0];
        if (noise is not null) z = z.add(parts[1].clamp(-30, 20).mul(0.5).exp().mul(noise));
        var recon = DecoderNet.Forward(z, pass, out var dl1, out var dl2);
        return (recon, moments, el1, el2, dl1, dl2);
    }

    // ---------------------------------------------------------------- shapes and padding

    /// <summary>
    /// Pads a video to the nearest valid shape by repeating its last frame, row and column (the opt-in
    /// <see cref="ShapePolicy.PadAndTrim"/>); returns the padded tensor. Use <see cref="Trim"/> after decode.
    /// </summary>
    public Tensor PadToValid(Tensor video)
    {
        CheckRank(video, "video");
        long t = video.shape[2], h = video.shape[3], w = video.shape[4];
        if (t < 1 || h < 1 || w < 1) throw new ArgumentException($"video of shape [{string.Join(",", video.shape)}] has no frames or pixels to pad from; give at least one frame of at least 1x1.");
        long pt = ShapeRules.PadFrameCountOrSelf(t) - t, ph = ShapeRules.PaddedSide(h) - h, pw = ShapeRules.PaddedSide(w) - w;
        if (pt == 0 && ph == 0 && pw == 0) return video.alias();
        return nn.functional.pad(video, [0, pw, 0, ph, 0, pt], PaddingModes.Replicate);
    }

    /// <summary>Cuts a decoded video back to T×H×W (the shape before <see cref="PadToValid"/>).</summary>
    public static Tensor Trim(Tensor video, long frames, long height, long width) =>
        video.narrow(2, 0, Math.Min(frames, video.shape[2])).narrow(3, 0, Math.Min(height, video.shape[3])).narrow(4, 0, Math.Min(width, video.shape[4]));

    /// <summary>The chunk schedule: [0, 1) then <paramref name="step"/> frames per chunk (the last may be shorter).</summary>
    public static IEnumerable<(long Start, long Length)> ChunkSchedule(long frames, long step)
    {
        yield return (0, 1);
        for (long s = 1; s < frames; s += step) yield return (s, Math.Min(step, frames - s));
    }

    private int CheckEncodeChunk(int n)
    {
        ShapeRules.ValidateChunkFrames(n);
        return n;
    }

    private static void CheckRank(Tensor t, string what)
    {
        if (t.dim() != 5) throw new ArgumentException($"{what} must be 5-D (B, C, T, H, W), got shape [{string.Join(",", t.shape)}].");
        if (t.shape[0] < 1) throw new ArgumentException($"{what} has batch size 0 (shape [{string.Join(",", t.shape)}]); give at least one video.");
    }

    private static void CheckVideo(Tensor video, string what)
    {
        CheckRank(video, what);
        if (video.shape[1] != 3) throw new ArgumentException($"{what} must have 3 (RGB) channels in dim 1, got shape [{string.Join(",", video.shape)}].");
        if (!video.is_floating_point()) throw new ArgumentException($"{what} must be floating point in [-1, 1], got {video.dtype}.");
        FrameTensors.ThrowIfNotFinite(video, 0, what, "the model would turn every latent value into NaN; fix or drop those frames");
    }

    /// <summary>A finite input can still overflow inside the network (values far outside [-1, 1], NaN weights): refuse such output.</summary>
    private static void CheckFiniteOutput(Tensor result, string what, long firstFrame) =>
        FrameTensors.ThrowIfNotFinite(result, firstFrame, what, "the input is far outside [-1, 1] or the model's weights are extreme or not finite");

    /// <summary>A finite latent can still overflow in the decoder: refuse such video, naming the latent as the cause to look at.</summary>
    private static void CheckFiniteDecode(Tensor video) =>
        FrameTensors.ThrowIfNotFinite(video, 0, "video decoded from the latent", "the latent is far outside the range the encoder produces or the model's weights are extreme or not finite");

    private void CheckLatent(Tensor z, string what)
    {
        CheckRank(z, what);
        if (z.shape[1] != Config.LatentDim) throw new ArgumentException($"{what} must have latent_dim = {Config.LatentDim} channels in dim 1, got shape [{string.Join(",", z.shape)}].");
        if (z.shape[2] < 1) throw new ArgumentException($"{what} has no frames.");
        if (!z.is_floating_point()) throw new ArgumentException($"{what} must be floating point, got {z.dtype}.");
        FrameTensors.ThrowIfNotFinite(z, 0, what, "decoding it would give NaN frames");
    }

    private static Device ResolveDevice(Device? device)
    {
        var d = device ?? CPU;
        if (d.type == DeviceType.CUDA && !cuda.is_available())
            throw new NotSupportedException("CUDA was requested but TorchSharp has no CUDA backend here. Build with -p:WfVaeTorchBackend=cuda, which references the TorchSharp-cuda-linux package, on a machine with an NVIDIA driver.");
        return d;
    }

    /// <summary>Parses "cpu", "cuda" or "cuda:N".</summary>
    public static Device ParseDevice(string name) => name.ToLowerInvariant() switch
    {
        "cpu" => CPU,
        var s when s == "cuda" || s.StartsWith("cuda:", StringComparison.Ordinal) => ResolveDevice(new Device(s)),
        _ => throw new ArgumentException($"device '{name}' is not valid; use cpu, cuda or cuda:N."),
    };

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        // The weights were detached from every dispose scope when the model was built, so they are released here.
        var owned = _net.parameters().Cast<Tensor>().Concat(_net.buffers()).ToList();
        _net.Dispose();
        foreach (var t in owned) t.Dispose();
    }
}

/// <summary>A checkpoint whose tensors do not match the config (missing, unexpected or wrongly shaped keys).</summary>
public sealed class WfVaeCheckpointException : Exception
{
    public WfVaeCheckpointException(string message) : base(message) { }
}
