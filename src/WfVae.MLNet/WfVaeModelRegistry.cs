using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json.Serialization;
using TorchSharp;
using static TorchSharp.torch;

namespace WfVae.MLNet;

/// <summary>
/// The weights a saved WF-VAE stage was built with: the model folder and the sha256 of its two files, plus device and dtype.
/// Recorded in the saved ML.NET model and verified before the first row is encoded or decoded after loading.
/// </summary>
internal sealed record ModelReference(
    [property: JsonPropertyName("directory")] string Directory,
    [property: JsonPropertyName("weightsSha256")] string WeightsSha256,
    [property: JsonPropertyName("configSha256")] string ConfigSha256,
    [property: JsonPropertyName("device")] string Device,
    [property: JsonPropertyName("dtype")] string DType)
{
    public string WeightsFile => Path.Combine(Directory, WfVaeModel.WeightsFileName);
    public string ShortSha => WeightsSha256[..Math.Min(12, WeightsSha256.Length)];
}

/// <summary>
/// The WF-VAE models that loaded ML.NET pipelines use. A pipeline saved with <c>mlContext.Model.Save</c> records the model folder
/// and the sha256 of <c>diffusion_pytorch_model.safetensors</c> and <c>config.json</c>; after <c>mlContext.Model.Load</c>, the
/// first row a WF-VAE stage processes looks the weights up here: first among folders given to
/// <see cref="RegisterModelDirectory"/> (for weights that moved), then in the recorded folder. Files whose sha256 differ from the
/// recorded ones are never used. Each distinct (weights, device, dtype) is loaded once per process and shared by every loaded
/// pipeline and thread.
/// </summary>
public static class WfVaeModelRegistry
{
    private static readonly ConcurrentDictionary<(string Path, long Length, DateTime Written), string> HashCache = new();
    private static readonly ConcurrentDictionary<string, string> RegisteredByWeights = new(StringComparer.Ordinal);
    private static readonly ConcurrentDictionary<(string Weights, string Config, string Device, string DType, WfVaeComponents Components), Lazy<WfVaeModel>> Models = new();

    /// <summary>
    /// Makes the weights in <paramref name="directory"/> available to loaded pipelines that were saved with the same weights
    /// (matched by sha256), wherever the original folder was. Returns the sha256 of its safetensors file.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">It lacks <c>config.json</c> or <c>diffusion_pytorch_model.safetensors</c>.</exception>
    public static string RegisterModelDirectory(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        string dir = Path.GetFullPath(directory);
        CheckFolder(dir);
        string sha = Sha256(Path.Combine(dir, WfVaeModel.WeightsFileName));
        RegisteredByWeights[sha] = dir;
        return sha;
    }

    /// <summary>
    /// Disposes every model loaded for loaded pipelines and forgets registered folders. Call it only when no loaded pipeline is
    /// running; a later row loads its model again.
    /// </summary>
    public static void Clear()
    {
        RegisteredByWeights.Clear();
        foreach (var key in Models.Keys.ToList())
            if (Models.TryRemove(key, out var lazy) && lazy.IsValueCreated)
                lazy.Value.Dispose();
    }

    /// <summary>Number of models currently loaded for loaded pipelines.</summary>
    public static int LoadedModelCount => Models.Values.Count(l => l.IsValueCreated);

    /// <summary>Describes the weights <paramref name="model"/> was loaded from (for saving).</summary>
    internal static ModelReference Describe(WfVaeModel model, ModelStamp? stamp)
    {
        string dir = model.SourceDirectory ?? throw new InvalidOperationException(
            "This WF-VAE stage cannot be saved: its WfVaeModel was not loaded from a folder (WfVaeModel.SourceDirectory is null), so the saved pipeline " +
            "could not say which weights it uses. Save the weights with model.Save(folder) and use WfVaeModel.Load(folder) or the ModelDirectory option.");
        if (stamp is not null && !stamp.StillMatches())
            throw new InvalidOperationException(
                $"This WF-VAE stage cannot be saved: '{stamp.WeightsPath}' changed on disk after the stage loaded its weights, so the saved pipeline would " +
                "reference weights different from the ones in memory. Re-fit the pipeline and save it again.");
        return new ModelReference(dir, Sha256(Path.Combine(dir, WfVaeModel.WeightsFileName)), Sha256(Path.Combine(dir, WfVaeModel.ConfigFileName)),
            DeviceName(model.Device), model.DType.ToString());
    }

    internal static string DeviceName(Device d) => d.type == DeviceType.CPU ? "cpu" : d.index < 0 ? d.type.ToString().ToLowerInvariant() : $"{d.type.ToString().ToLowerInvariant()}:{d.index}";

    /// <summary>
    /// The model with exactly the referenced weights, loaded once per process and model half (a loaded encode stage holds
    /// only the encoder, a decode stage only the decoder).
    /// </summary>
    internal static WfVaeModel Resolve(ModelReference r, WfVaeComponents components)
    {
        var key = (r.WeightsSha256, r.ConfigSha256, r.Device, r.DType, components);
        var lazy = Models.GetOrAdd(key, _ => new Lazy<WfVaeModel>(() => LoadVerified(r, components), LazyThreadSafetyMode.ExecutionAndPublication));
        try
        {
            return lazy.Value;
        }
        catch
        {
            // Do not cache the failure: a later row may find the weights restored or registered.
            Models.TryRemove(new KeyValuePair<(string, string, string, string, WfVaeComponents), Lazy<WfVaeModel>>(key, lazy));
            throw;
        }
    }

    private static WfVaeModel LoadVerified(ModelReference r, WfVaeComponents components)
    {
        var tried = new List<string>();
        var candidates = new List<string>();
        if (RegisteredByWeights.TryGetValue(r.WeightsSha256, out var registered)) candidates.Add(registered);
        if (!candidates.Contains(r.Directory, StringComparer.Ordinal)) candidates.Add(r.Directory);
        foreach (var dir in candidates)
        {
            string weights = Path.Combine(dir, WfVaeModel.WeightsFileName), config = Path.Combine(dir, WfVaeModel.ConfigFileName);
            if (!Directory.Exists(dir)) { tried.Add($"'{dir}' does not exist"); continue; }
            if (!File.Exists(weights)) { tried.Add($"'{dir}' has no {WfVaeModel.WeightsFileName}"); continue; }
            if (!File.Exists(config)) { tried.Add($"'{dir}' has no {WfVaeModel.ConfigFileName}"); continue; }
            string ws = Sha256(weights);
            if (!string.Equals(ws, r.WeightsSha256, StringComparison.Ordinal))
            {
                tried.Add($"'{weights}' has sha256 {ws}, not the recorded {r.WeightsSha256} (the weights changed since the pipeline was saved)");
                continue;
            }
            string cs = Sha256(config);
            if (!string.Equals(cs, r.ConfigSha256, StringComparison.Ordinal))
            {
                tried.Add($"'{config}' has sha256 {cs}, not the recorded {r.ConfigSha256} (config.json changed since the pipeline was saved)");
                continue;
            }
            var model = WfVaeModel.Load(dir, WfVaeModel.ParseDevice(r.Device), components);
            try
            {
                if (Enum.TryParse<ScalarType>(r.DType, out var dtype) && dtype != ScalarType.Float32)
                    model.ToDType(dtype);
                return model;
            }
            catch
            {
                model.Dispose();
                throw;
            }
        }
        throw new WfVaeModelReferenceException(r.Directory, r.WeightsSha256,
            $"This saved ML.NET pipeline uses the WF-VAE weights in '{r.Directory}' ({WfVaeModel.WeightsFileName} sha256 {r.WeightsSha256}), " +
            $"but they are not available: {string.Join("; ", tried)}. Restore that folder, or call WfVaeModelRegistry.RegisterModelDirectory(folder) " +
            "with a folder holding the same weights before running the pipeline.");
    }

    /// <summary>Lower-case hex sha256 of a file, cached by (path, length, last write time).</summary>
    internal static string Sha256(string file)
    {
        var info = new FileInfo(file);
        if (!info.Exists) throw new FileNotFoundException($"File not found: '{file}'.", file);
        var key = (info.FullName, info.Length, info.LastWriteTimeUtc);
        return HashCache.GetOrAdd(key, _ =>
        {
            using var s = new FileStream(info.FullName, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
            return Convert.ToHexStringLower(SHA256.HashData(s));
        });
    }

    private static void CheckFolder(string dir)
    {
        if (!Directory.Exists(dir))
            throw new DirectoryNotFoundException($"WF-VAE model folder not found: '{dir}'.");
        foreach (var f in new[] { WfVaeModel.ConfigFileName, WfVaeModel.WeightsFileName })
            if (!File.Exists(Path.Combine(dir, f)))
                throw new FileNotFoundException($"'{dir}' has no {f}; a WF-VAE folder holds {WfVaeModel.ConfigFileName} and {WfVaeModel.WeightsFileName}.", Path.Combine(dir, f));
    }
}

/// <summary>Length and write time of a weights file when a stage loaded it, to detect later changes before saving.</summary>
internal sealed record ModelStamp(string WeightsPath, long Length, DateTime Written)
{
    public static ModelStamp? Of(WfVaeModel model)
    {
        if (model.SourceDirectory is null) return null;
        var info = new FileInfo(Path.Combine(model.SourceDirectory, WfVaeModel.WeightsFileName));
        return info.Exists ? new ModelStamp(info.FullName, info.Length, info.LastWriteTimeUtc) : null;
    }

    public bool StillMatches()
    {
        var info = new FileInfo(WeightsPath);
        return info.Exists && info.Length == Length && info.LastWriteTimeUtc == Written;
    }
}

/// <summary>
/// A loaded pipeline's WF-VAE weights are missing or differ from the ones it was saved with (checked by sha256).
/// </summary>
public sealed class WfVaeModelReferenceException : Exception
{
    /// <summary>Creates the exception.</summary>
    public WfVaeModelReferenceException(string directory, string weightsSha256, string message) : base(message)
    {
        Directory = directory;
        WeightsSha256 = weightsSha256;
    }

    /// <summary>The model folder recorded in the saved pipeline.</summary>
    public string Directory { get; }

    /// <summary>The recorded sha256 of <c>diffusion_pytorch_model.safetensors</c>.</summary>
    public string WeightsSha256 { get; }
}
