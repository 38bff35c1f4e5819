using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace WfVae.Datasets;

/// <summary>
/// <c>dataset.json</c>: what a latent dataset was made from and how (model config and weights hash, preprocessing,
/// manifest hash, library version). A run into an existing folder must match it field for field.
/// </summary>
internal static class DatasetRecord
{
    public const string FileName = "dataset.json", Format = "wfvae-latent-dataset/1";

    public static JsonObject Create(WfVaeModel model, DatasetSettings settings, DatasetManifest manifest, long clips, int shards) => new()
    {
        ["format"] = Format,
        ["library_version"] = LibraryVersion,
        ["model"] = new JsonObject
        {
            ["config"] = JsonNode.Parse(model.Config.ToJson()),
            ["weights_sha256"] = model.WeightsSha256(),
        },
        ["preprocessing"] = settings.ToJson(),
        ["manifest"] = new JsonObject
        {
            ["sha256"] = manifest.Sha256,
            ["rows"] = manifest.Rows.Count,
            ["carried_columns"] = new JsonArray(manifest.CarriedColumns.Select(c => (JsonNode)JsonValue.Create(c)!).ToArray()),
        },
        ["clips"] = clips,
        ["shards"] = shards,
    };

    /// <summary>Writes the record, or checks an existing one: every field must be equal, else the run is refused naming them.</summary>
    public static void WriteOrCheck(string directory, JsonObject record)
    {
        string path = Path.Combine(directory, FileName);
        string text = record.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
        if (!File.Exists(path))
        {
            Files.AtomicFileWriter.WriteAllText(path, text);
            return;
        }
        JsonObject existing;
        try { existing = JsonNode.Parse(File.ReadAllText(path))?.AsObject() ?? throw new InvalidDataException("empty"); }
        catch (Exception e) when (e is JsonException or InvalidDataException or InvalidOperationException)
        {
            throw new InvalidDataException($"'{path}' is not a WF-VAE dataset record ({e.Message}); remove it or choose another output folder.", e);
        }
        var differences = new List<string>();
        Compare("", existing, record, differences);
        if (differences.Count > 0)
            throw new InvalidOperationException($"'{directory}' holds a latent dataset made with other settings, so this run is refused rather than mixed into it: {string.Join("; ", differences.Take(8))}{(differences.Count > 8 ? $"; and {differences.Count - 8} more" : "")}. Use another output folder, or the settings of '{path}'.");
    }

    private static void Compare(string prefix, JsonNode? was, JsonNode? now, List<string> differences)
    {
        if (was is JsonObject a && now is JsonObject b)
        {
            foreach (var key in a.Select(kv => kv.Key).Union(b.Select(kv => kv.Key)))
                Compare(prefix.Length == 0 ? key : $"{prefix}.{key}", a[key], b[key], differences);
            return;
        }
        if (!JsonNode.DeepEquals(was, now))
            differences.Add($"{prefix} was {Show(was)}, now {Show(now)}");
    }

    private static string Show(JsonNode? n)
    {
        string s = n?.ToJsonString() ?? "absent";
        return s.Length > 80 ? s[..77] + "..." : s;
    }

    public static string LibraryVersion =>
        typeof(DatasetRecord).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";
}
