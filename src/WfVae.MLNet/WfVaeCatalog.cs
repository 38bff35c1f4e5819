using WfVae;
using WfVae.MLNet;

namespace Microsoft.ML;

/// <summary>
/// WF-VAE stages on <c>mlContext.Transforms</c>: <see cref="WfVaeEncode(TransformsCatalog, string, string, string)"/> turns a
/// video column (file paths or (3, T, H, W) vectors in [-1, 1]) into latent columns, and
/// <see cref="WfVaeDecode(TransformsCatalog, string, string, string)"/> turns latents back into video.
/// </summary>
public static class WfVaeCatalog
{
    /// <summary>
    /// Encodes each video of <paramref name="inputColumnName"/> with the WF-VAE in <paramref name="modelDirectory"/>; the latent
    /// mean goes to <paramref name="outputColumnName"/> and pooled per-channel features to <c>&lt;output&gt;.Pooled</c>.
    /// Videos are read at their native size and length, which must be valid for the model (see
    /// <see cref="WfVaeEncoderOptions.ShapePolicy"/>); the latent columns are then variable-size vectors.
    /// </summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="outputColumnName">Name of the latent-mean column.</param>
    /// <param name="inputColumnName">A string column of video paths, or a Single vector column of (3, T, H, W) videos.</param>
    /// <param name="modelDirectory">Folder with config.json and diffusion_pytorch_model.safetensors.</param>
    public static WfVaeEncodingEstimator WfVaeEncode(this TransformsCatalog catalog, string outputColumnName, string inputColumnName, string modelDirectory) =>
        WfVaeEncode(catalog, new WfVaeEncoderOptions { OutputColumnName = outputColumnName, InputColumnName = inputColumnName, ModelDirectory = modelDirectory });

    /// <summary>
    /// Encodes each video file of <paramref name="inputColumnName"/> resized (cover, then centre-crop) to
    /// <paramref name="width"/>×<paramref name="height"/> with <paramref name="maxFrames"/> frames, so every row has the same latent
    /// shape and the latent columns have a known size.
    /// </summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="outputColumnName">Name of the latent-mean column.</param>
    /// <param name="inputColumnName">A string column of video paths.</param>
    /// <param name="modelDirectory">Folder with config.json and diffusion_pytorch_model.safetensors.</param>
    /// <param name="width">Frame width (a multiple of 8 unless <paramref name="shapePolicy"/> pads).</param>
    /// <param name="height">Frame height (a multiple of 8 unless <paramref name="shapePolicy"/> pads).</param>
    /// <param name="maxFrames">Frames per video (1 + 4k unless <paramref name="shapePolicy"/> pads); shorter videos are an error or padded.</param>
    /// <param name="shapePolicy">Reject invalid shapes (default) or pad them by repetition.</param>
    public static WfVaeEncodingEstimator WfVaeEncode(this TransformsCatalog catalog, string outputColumnName, string inputColumnName, string modelDirectory,
        int width, int height, int maxFrames, ShapePolicy shapePolicy = ShapePolicy.Strict) =>
        WfVaeEncode(catalog, new WfVaeEncoderOptions
        {
            OutputColumnName = outputColumnName,
            InputColumnName = inputColumnName,
            ModelDirectory = modelDirectory,
            Width = width,
            Height = height,
            MaxFrames = maxFrames,
            ShapePolicy = shapePolicy,
        });

    /// <summary>
    /// Encodes each video of <paramref name="inputColumnName"/> with an already loaded <paramref name="model"/>, which stays owned
    /// by the caller (dispose it after the pipeline).
    /// </summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="outputColumnName">Name of the latent-mean column.</param>
    /// <param name="inputColumnName">A string column of video paths, or a Single vector column of (3, T, H, W) videos.</param>
    /// <param name="model">The model; saving the pipeline needs one loaded from a folder.</param>
    public static WfVaeEncodingEstimator WfVaeEncode(this TransformsCatalog catalog, string outputColumnName, string inputColumnName, WfVaeModel model) =>
        WfVaeEncode(catalog, new WfVaeEncoderOptions { OutputColumnName = outputColumnName, InputColumnName = inputColumnName, Model = model });

    /// <summary>Encodes a video column with every option (<see cref="WfVaeEncoderOptions"/>): model, frame and size policy, chunking, device, outputs.</summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="options">The options; validated here.</param>
    public static WfVaeEncodingEstimator WfVaeEncode(this TransformsCatalog catalog, WfVaeEncoderOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new WfVaeEncodingEstimator(options);
    }

    /// <summary>
    /// Decodes each latent of <paramref name="inputColumnName"/> (a <c>Vector&lt;Single, z, t, h, w&gt;</c> as
    /// <c>WfVaeEncode</c> produces) into a (3, T, H, W) video column <paramref name="outputColumnName"/>.
    /// </summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="outputColumnName">Name of the decoded-video column.</param>
    /// <param name="inputColumnName">The latent column.</param>
    /// <param name="modelDirectory">Folder with config.json and diffusion_pytorch_model.safetensors.</param>
    public static WfVaeDecodingEstimator WfVaeDecode(this TransformsCatalog catalog, string outputColumnName, string inputColumnName, string modelDirectory) =>
        WfVaeDecode(catalog, new WfVaeDecoderOptions { OutputColumnName = outputColumnName, InputColumnName = inputColumnName, ModelDirectory = modelDirectory });

    /// <summary>Decodes a latent column with an already loaded <paramref name="model"/>, which stays owned by the caller.</summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="outputColumnName">Name of the decoded-video column.</param>
    /// <param name="inputColumnName">The latent column.</param>
    /// <param name="model">The model; saving the pipeline needs one loaded from a folder.</param>
    public static WfVaeDecodingEstimator WfVaeDecode(this TransformsCatalog catalog, string outputColumnName, string inputColumnName, WfVaeModel model) =>
        WfVaeDecode(catalog, new WfVaeDecoderOptions { OutputColumnName = outputColumnName, InputColumnName = inputColumnName, Model = model });

    /// <summary>Decodes a latent column with every option (<see cref="WfVaeDecoderOptions"/>): model, latent layout, chunking, cut, clamp.</summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="options">The options; validated here.</param>
    public static WfVaeDecodingEstimator WfVaeDecode(this TransformsCatalog catalog, WfVaeDecoderOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new WfVaeDecodingEstimator(options);
    }
}
