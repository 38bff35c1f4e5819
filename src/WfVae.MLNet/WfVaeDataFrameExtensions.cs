using Microsoft.Data.Analysis;
using Microsoft.ML;

namespace WfVae.MLNet;

/// <summary>
/// <see cref="DataFrame"/> in, <see cref="DataFrame"/> out: a frame of video paths (or video vectors) becomes a frame with
/// latent and feature columns, and a frame of latents becomes a frame of decoded videos. A DataFrame is an <see cref="IDataView"/>,
/// so these helpers are <c>Fit</c> + <c>Transform</c> + <c>ToDataFrame</c> of the WF-VAE stages; vector cells come back as
/// <see cref="VBufferDataFrameColumn{T}"/> columns of <c>float</c>.
/// </summary>
public static class WfVaeDataFrameExtensions
{
    /// <summary>
    /// Encodes <see cref="WfVaeEncoderOptions.InputColumnName"/> of every row and returns a new frame with all columns of
    /// <paramref name="frame"/> plus the latent columns. The model is loaded for the call and freed afterwards.
    /// </summary>
    /// <param name="frame">Rows with a string column of video paths (or a float vector column of videos).</param>
    /// <param name="mlContext">The ML.NET context.</param>
    /// <param name="options">Encoder options; see <see cref="WfVaeEncoderOptions"/>.</param>
    public static DataFrame EncodeVideos(this DataFrame frame, MLContext mlContext, WfVaeEncoderOptions options)
    {
        ArgumentNullException.ThrowIfNull(frame);
        ArgumentNullException.ThrowIfNull(mlContext);
        using var transformer = mlContext.Transforms.WfVaeEncode(options).Fit(frame);
        return transformer.Transform(frame).ToDataFrame(-1);
    }

    /// <summary>
    /// Encodes the video files in <paramref name="inputColumnName"/>, resized to <paramref name="width"/>×<paramref name="height"/>
    /// with <paramref name="maxFrames"/> frames; adds <paramref name="outputColumnName"/> (latent mean) and
    /// <c>&lt;output&gt;.Pooled</c> (2z pooled features).
    /// </summary>
    /// <param name="frame">Rows with a string column of video paths.</param>
    /// <param name="mlContext">The ML.NET context.</param>
    /// <param name="outputColumnName">Name of the latent-mean column.</param>
    /// <param name="inputColumnName">The path column.</param>
    /// <param name="modelDirectory">Folder with config.json and diffusion_pytorch_model.safetensors.</param>
    /// <param name="width">Frame width (multiple of 8).</param>
    /// <param name="height">Frame height (multiple of 8).</param>
    /// <param name="maxFrames">Frames per video (1 + 4k).</param>
    public static DataFrame EncodeVideos(this DataFrame frame, MLContext mlContext, string outputColumnName, string inputColumnName, string modelDirectory,
        int width, int height, int maxFrames) =>
        EncodeVideos(frame, mlContext, new WfVaeEncoderOptions
        {
            OutputColumnName = outputColumnName,
            InputColumnName = inputColumnName,
            ModelDirectory = modelDirectory,
            Width = width,
            Height = height,
            MaxFrames = maxFrames,
        });

    /// <summary>
    /// Decodes <see cref="WfVaeDecoderOptions.InputColumnName"/> of every row and returns a new frame with all columns of
    /// <paramref name="frame"/> plus the decoded-video column. Latent cells of a DataFrame carry no (z, t, h, w) dimensions, so set
    /// <see cref="WfVaeDecoderOptions.LatentHeight"/> and <see cref="WfVaeDecoderOptions.LatentWidth"/> (video size / 8).
    /// </summary>
    /// <param name="frame">Rows with a float vector column of latents.</param>
    /// <param name="mlContext">The ML.NET context.</param>
    /// <param name="options">Decoder options; see <see cref="WfVaeDecoderOptions"/>.</param>
    public static DataFrame DecodeLatents(this DataFrame frame, MLContext mlContext, WfVaeDecoderOptions options)
    {
        ArgumentNullException.ThrowIfNull(frame);
        ArgumentNullException.ThrowIfNull(mlContext);
        using var transformer = mlContext.Transforms.WfVaeDecode(options).Fit(frame);
        return transformer.Transform(frame).ToDataFrame(-1);
    }

    /// <summary>Decodes the latents in <paramref name="inputColumnName"/>, laid out as (z, t, <paramref name="latentHeight"/>, <paramref name="latentWidth"/>).</summary>
    /// <param name="frame">Rows with a float vector column of latents.</param>
    /// <param name="mlContext">The ML.NET context.</param>
    /// <param name="outputColumnName">Name of the decoded-video column.</param>
    /// <param name="inputColumnName">The latent column.</param>
    /// <param name="modelDirectory">Folder with config.json and diffusion_pytorch_model.safetensors.</param>
    /// <param name="latentHeight">Latent height h (video height / 8).</param>
    /// <param name="latentWidth">Latent width w (video width / 8).</param>
    public static DataFrame DecodeLatents(this DataFrame frame, MLContext mlContext, string outputColumnName, string inputColumnName, string modelDirectory,
        int latentHeight, int latentWidth) =>
        DecodeLatents(frame, mlContext, new WfVaeDecoderOptions
        {
            OutputColumnName = outputColumnName,
            InputColumnName = inputColumnName,
            ModelDirectory = modelDirectory,
            LatentHeight = latentHeight,
            LatentWidth = latentWidth,
        });
}
