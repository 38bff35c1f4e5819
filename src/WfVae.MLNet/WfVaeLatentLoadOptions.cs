namespace WfVae.MLNet;

/// <summary>
/// Options of <c>mlContext.Data.LoadWfVaeLatents</c>: the name of the latent column and whether failed clips are rows.
/// </summary>
public sealed record WfVaeLatentLoadOptions
{
    /// <summary>Name of the latent column (default <c>Latent</c>); it must differ from every manifest column.</summary>
    public string LatentColumnName { get; init; } = "Latent";

    /// <summary>
    /// Include the clips whose encoding failed (status "failed", with their error). Default false: the view holds the ok clips
    /// only. A failed row's latent is missing: in a known-size latent column every value is NaN (ML.NET's missing value for
    /// Single, so <c>FilterRowsByMissingValues</c> drops those rows again and the column keeps its (z, t, h, w) type); in a
    /// variable-size column (clips of different shapes) it is empty.
    /// </summary>
    public bool IncludeFailed { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the option at fault.</summary>
    public void Validate() => Names.CheckColumnName(LatentColumnName, nameof(LatentColumnName));
}
