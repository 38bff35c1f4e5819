namespace WfVae.MLNet;

/// <summary>
/// A row a WF-VAE stage could not process (an unreadable or invalid video file, a vector of the wrong size, a video shape the
/// model cannot take). The message names the stage, the column, the row and, for path input, the file; the cause is
/// <see cref="Exception.InnerException"/>.
/// </summary>
public sealed class WfVaeRowException : Exception
{
    /// <summary>Creates the exception for row <paramref name="rowPosition"/> of <paramref name="columnName"/>.</summary>
    public WfVaeRowException(string stage, string columnName, long rowPosition, string? filePath, Exception innerException)
        : base(Format(stage, columnName, rowPosition, filePath, innerException), innerException)
    {
        Stage = stage;
        ColumnName = columnName;
        RowPosition = rowPosition;
        FilePath = filePath;
    }

    /// <summary>"WfVaeEncode" or "WfVaeDecode".</summary>
    public string Stage { get; }

    /// <summary>The input column.</summary>
    public string ColumnName { get; }

    /// <summary>Position of the row in the cursor (-1 when unknown, e.g. inside a loaded pipeline).</summary>
    public long RowPosition { get; }

    /// <summary>The video file of the row (path input), if any.</summary>
    public string? FilePath { get; }

    private static string Format(string stage, string column, long row, string? file, Exception inner)
    {
        string where = row >= 0 ? $"row {row}" : "a row";
        string what = file is null ? "" : $", file '{file}'";
        return $"{stage} failed on {where} of column '{column}'{what}: {inner.Message}";
    }
}
