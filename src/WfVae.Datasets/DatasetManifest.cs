using System.Globalization;
using System.Security.Cryptography;
using CsvHelper;
using CsvHelper.Configuration;
using Parquet.Serialization;
using WfVae.Training;

namespace WfVae.Datasets;

/// <summary>One video of a dataset manifest: its row (manifest order), file and the columns carried into the output.</summary>
/// <param name="Row">0-based row in manifest order; clip ids and shard ids derive from it.</param>
/// <param name="Path">The video file (relative paths are resolved against the manifest's folder).</param>
/// <param name="Carried">Every other manifest column, by name (null for an empty cell).</param>
public sealed record ManifestRow(int Row, string Path, IReadOnlyDictionary<string, string?> Carried);

/// <summary>
/// The videos to encode: a folder (every video file under it, sorted by path), a CSV file or a Parquet file with a
/// path column plus any other columns (carried through to the output manifest as text).
/// </summary>
public sealed class DatasetManifest
{
    private DatasetManifest(string source, IReadOnlyList<ManifestRow> rows, IReadOnlyList<string> carried, string sha256)
    {
        Source = source;
        Rows = rows;
        CarriedColumns = carried;
        Sha256 = sha256;
    }

    /// <summary>The folder or file the manifest was read from (full path).</summary>
    public string Source { get; }
    /// <summary>The videos in manifest order.</summary>
    public IReadOnlyList<ManifestRow> Rows { get; }
    /// <summary>Names of the carried columns, in manifest order.</summary>
    public IReadOnlyList<string> CarriedColumns { get; }
    /// <summary>SHA-256 of the manifest's content (for a folder: of its sorted relative file list).</summary>
    public string Sha256 { get; }

    /// <summary>Reads a folder, <c>.csv</c> or <c>.parquet</c> manifest; <paramref name="pathColumn"/> names the video column of a file manifest.</summary>
    public static DatasetManifest Load(string source, string pathColumn = "path")
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(source);
        string full = System.IO.Path.GetFullPath(source);
        if (Directory.Exists(full)) return FromFolder(full);
        if (!File.Exists(full)) throw new FileNotFoundException($"manifest '{full}' does not exist (give a folder of videos, a .csv or a .parquet file).", full);
        string ext = System.IO.Path.GetExtension(full).ToLowerInvariant();
        var (columns, records) = ext switch
        {
            ".csv" => ReadCsv(full),
            ".parquet" => ReadParquet(full),
            _ => throw new ArgumentException($"manifest '{full}' is neither a folder, a .csv nor a .parquet file."),
        };
        int pathIndex = columns.IndexOf(pathColumn);
        if (pathIndex < 0)
            throw new ArgumentException($"manifest '{full}' has no column '{pathColumn}' for the video paths; its columns are: {string.Join(", ", columns.Select(c => $"'{c}'"))}.");
        var dupe = columns.GroupBy(c => c, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (dupe is not null) throw new ArgumentException($"manifest '{full}' has the column '{dupe.Key}' more than once.");
        var carried = columns.Where((_, i) => i != pathIndex).ToList();
        var clash = carried.FirstOrDefault(ClipRecord.ColumnNames.Contains);
        if (clash is not null)
            throw new ArgumentException($"manifest '{full}' column '{clash}' has the name of an output column ({string.Join(", ", ClipRecord.ColumnNames)}); rename it.");
        string folder = System.IO.Path.GetDirectoryName(full)!;
        var rows = new List<ManifestRow>(records.Count);
        for (int r = 0; r < records.Count; r++)
        {
            string? path = records[r][pathIndex];
            if (string.IsNullOrWhiteSpace(path))
                throw new ArgumentException($"manifest '{full}' row {r} has an empty '{pathColumn}'.");
            var values = new Dictionary<string, string?>(StringComparer.Ordinal);
            for (int c = 0; c < columns.Count; c++)
                if (c != pathIndex) values[columns[c]] = records[r][c];
            rows.Add(new ManifestRow(r, System.IO.Path.GetFullPath(path, folder), values));
        }
        return new DatasetManifest(full, rows, carried, Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(full))));
    }

    private static DatasetManifest FromFolder(string folder)
    {
        var files = Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .Where(f => VideoClipDataset.VideoExtensions.Contains(System.IO.Path.GetExtension(f).ToLowerInvariant()))
            .Select(f => System.IO.Path.GetRelativePath(folder, f))
            .OrderBy(f => f, StringComparer.Ordinal).ToList();
        if (files.Count == 0)
            throw new ArgumentException($"folder '{folder}' holds no videos ({string.Join(", ", VideoClipDataset.VideoExtensions)}).");
        var rows = files.Select((f, i) => new ManifestRow(i, System.IO.Path.Combine(folder, f), new Dictionary<string, string?>())).ToList();
        string sha = Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(string.Join("\n", files))));
        return new DatasetManifest(folder, rows, [], sha);
    }

    private static (List<string> Columns, List<string?[]> Records) ReadCsv(string file)
    {
        using var reader = new StreamReader(file);
        using var csv = new CsvReader(reader, new CsvConfiguration(CultureInfo.InvariantCulture) { DetectColumnCountChanges = true });
        if (!csv.Read() || !csv.ReadHeader() || csv.HeaderRecord is not { Length: > 0 } header)
            throw new ArgumentException($"manifest '{file}' has no header row.");
        var records = new List<string?[]>();
        try
        {
            while (csv.Read())
                records.Add(Enumerable.Range(0, header.Length).Select(i => csv.GetField(i) is { Length: > 0 } v ? v : null).ToArray());
        }
        catch (CsvHelperException e)
        {
            throw new ArgumentException($"manifest '{file}' is not valid CSV near row {records.Count + 1}: {e.Message.Split('\n')[0]}", e);
        }
        return (header.ToList(), records);
    }

    private static (List<string> Columns, List<string?[]> Records) ReadParquet(string file)
    {
        using var stream = File.OpenRead(file);
        var table = ParquetSerializer.DeserializeUntypedAsync(stream).GetAwaiter().GetResult();
        var columns = table.Schema.GetDataFields().Select(f => f.Name).ToList();
        var records = table.Data.Select(row => columns.Select(c => row.TryGetValue(c, out var v) ? Text(v) : null).ToArray()).ToList();
        return (columns, records);
    }

    private static string? Text(object? v) => v switch
    {
        null => null,
        ReadOnlyMemory<char> m => m.ToString(),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => v.ToString(),
    };
}
