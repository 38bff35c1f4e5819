using WfVae.MLNet;

namespace Microsoft.ML;

/// <summary>WF-VAE latent datasets on <c>mlContext.Data</c>.</summary>
public static class WfVaeDataCatalog
{
    /// <summary>
    /// Loads the latent dataset that <c>wfvae dataset encode</c> wrote to <paramref name="directory"/> as a streaming
    /// <see cref="IDataView"/>: one row per clip in manifest order, with every manifest column (Int32 for the integer
    /// columns, Double for <c>fps</c>, Text for the rest including <c>latent_shape</c> "z,t,h,w" and the carried columns) and
    /// the latent as float32 (<c>Vector&lt;Single, z, t, h, w&gt;</c> when every ok clip has the same shape, else a
    /// variable-size vector), decoded from its stored dtype.
    /// </summary>
    /// <remarks>
    /// Only the manifest is read here; a cursor opens a shard when it reaches that shard's rows and holds one shard at a
    /// time. Manifest integers that are empty (on failed rows, e.g. the size of an unreadable source) read as 0. Failed
    /// clips are skipped unless <see cref="WfVaeLatentLoadOptions.IncludeFailed"/> is set.
    /// </remarks>
    /// <param name="catalog">The data catalog.</param>
    /// <param name="directory">The dataset folder (dataset.json, manifest.parquet, shards/).</param>
    /// <param name="options">Latent column name and failed-clip handling; null for the defaults.</param>
    /// <exception cref="InvalidDataException">The folder is not a latent dataset, or it is inconsistent.</exception>
    /// <exception cref="FileNotFoundException">The dataset is not finished (no manifest.parquet yet) or lists a missing shard.</exception>
    public static IDataView LoadWfVaeLatents(this DataOperationsCatalog catalog, string directory, WfVaeLatentLoadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return LatentDatasetView.Open(directory, options ?? new WfVaeLatentLoadOptions());
    }
}
