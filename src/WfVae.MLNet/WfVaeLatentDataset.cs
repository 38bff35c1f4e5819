using Microsoft.Data.Analysis;
using Microsoft.ML;

namespace WfVae.MLNet;

/// <summary>A WF-VAE latent dataset as a <see cref="DataFrame"/>.</summary>
public static class WfVaeLatentDataset
{
    /// <summary>
    /// Reads the whole latent dataset in <paramref name="directory"/> into memory: the columns of
    /// <c>mlContext.Data.LoadWfVaeLatents</c> (manifest columns, then the latent as a <see cref="VBufferDataFrameColumn{T}"/>
    /// of float). For datasets larger than memory, stream the <c>IDataView</c> instead.
    /// </summary>
    /// <param name="directory">The dataset folder (dataset.json, manifest.parquet, shards/).</param>
    /// <param name="options">Latent column name and failed-clip handling; null for the defaults.</param>
    public static DataFrame LoadDataFrame(string directory, WfVaeLatentLoadOptions? options = null) =>
        ((IDataView)LatentDatasetView.Open(directory, options ?? new WfVaeLatentLoadOptions())).ToDataFrame(-1);
}
