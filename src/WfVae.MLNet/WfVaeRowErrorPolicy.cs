namespace WfVae.MLNet;

/// <summary>What a WF-VAE stage does with a row it cannot process (a missing or unreadable file, a bad vector, a non-finite value).</summary>
public enum WfVaeRowErrorPolicy
{
    /// <summary>Throw <see cref="WfVaeRowException"/> from the cursor (default): one bad row stops the job.</summary>
    Fail,

    /// <summary>
    /// Give the row missing values and record why in the error column (<c>&lt;output&gt;.Error</c>, see
    /// <see cref="WfVaeEncoderOptions.ErrorColumnName"/>): known-size vector columns are filled with NaN (ML.NET's missing value
    /// for Single, so <c>mlContext.Data.FilterRowsByMissingValues</c> drops such rows and <c>ReplaceMissingValues</c> fills them),
    /// variable-size columns are empty. The error column is empty for good rows and otherwise holds the
    /// <see cref="WfVaeRowException"/> message, which names the stage, column, row and file. To skip bad rows, filter on it:
    /// <c>mlContext.Data.FilterByCustomPredicate</c> or <c>FilterRowsByMissingValues</c>.
    /// </summary>
    MissingValue,
}
