using Microsoft.ML;
using Microsoft.ML.Data;
using WfVae.MLNet;
using static WfVae.Tests.MLNet.MLNetTestData;

namespace WfVae.Tests.MLNet;

/// <summary>Schema errors use ML.NET's wording; a bad row fails with an error naming its file (or row), not deep in TorchSharp.</summary>
public sealed class SchemaAndRowErrorTests
{
    [Fact]
    public void MissingInputColumn_UsesMLNetWording()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable([new { Clip = "x.mp4" }]);
        var est = ml.Transforms.WfVaeEncode("Latent", "Video", TinyModel);

        var shapeError = Assert.Throws<ArgumentOutOfRangeException>(() => FitInChain(ml, data, est));
        Assert.StartsWith("Could not find input column 'Video'", shapeError.Message);
        Assert.Contains(nameof(IEstimator<ITransformer>.GetOutputSchema), shapeError.StackTrace);
        var fitError = Assert.Throws<ArgumentOutOfRangeException>(() => est.Fit(data));
        Assert.StartsWith("Could not find input column 'Video'", fitError.Message);

        var decode = ml.Transforms.WfVaeDecode("Video", "Latent", TinyModel);
        Assert.StartsWith("Could not find input column 'Latent'", Assert.Throws<ArgumentOutOfRangeException>(() => decode.Fit(data)).Message);
    }

    [Fact]
    public void ModelWithoutTheNeededHalf_IsAnOptionsError()
    {
        var ml = new MLContext(seed: 1);
        using var decoderOnly = WfVaeModel.Load(TestPaths.TinyModelDir, components: WfVaeComponents.Decoder);
        using var encoderOnly = WfVaeModel.Load(TestPaths.TinyModelDir, components: WfVaeComponents.Encoder);
        var e1 = Assert.Throws<ArgumentException>(() => ml.Transforms.WfVaeEncode("Latent", "Video", decoderOnly));
        Assert.Contains("WfVaeEncoderOptions.Model was loaded with components Decoder, without its encoder", e1.Message);
        var e2 = Assert.Throws<ArgumentException>(() => ml.Transforms.WfVaeDecode("Video", "Latent", encoderOnly));
        Assert.Contains("WfVaeDecoderOptions.Model was loaded with components Encoder, without its decoder", e2.Message);
        // The half a stage needs is enough.
        var encode = ml.Transforms.WfVaeEncode("Latent", "Video", encoderOnly);
        var decode = ml.Transforms.WfVaeDecode("Video", "Latent", decoderOnly);
        Assert.Same(encoderOnly, encode.Options.Model);
        Assert.Same(decoderOnly, decode.Options.Model);
    }

    [Fact]
    public void WrongInputType_UsesMLNetWording()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable([new { Video = 1.5f, Ids = new[] { 1, 2 } }]);

        var est = ml.Transforms.WfVaeEncode("Latent", "Video", TinyModel);
        var e1 = Assert.Throws<ArgumentOutOfRangeException>(() => est.Fit(data));
        Assert.StartsWith("Schema mismatch for input column 'Video': expected String (video file paths) or Vector<Single, 3, T, H, W>, got Single", e1.Message);
        var e2 = Assert.Throws<ArgumentOutOfRangeException>(() => FitInChain(ml, data, est));
        Assert.StartsWith("Schema mismatch for input column 'Video': expected String (video file paths) or Vector<Single, 3, T, H, W>, got Single", e2.Message);

        var decode = ml.Transforms.WfVaeDecode("Out", "Ids", TinyModel);
        var e3 = Assert.Throws<ArgumentOutOfRangeException>(() => decode.Fit(data));
        Assert.StartsWith("Schema mismatch for input column 'Ids': expected Vector<Single, 16, t, h, w>, got Vector<Int32>", e3.Message);
    }

    [Fact]
    public void FittedTransformer_RejectsOtherVectorShapes_AndInvalidVideoShapes()
    {
        var ml = new MLContext(seed: 1);
        var def = SchemaDefinition.Create(typeof(EncodeTests.VideoRow));
        def["Video"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, 3, 9, 32, 32);
        var data = ml.Data.LoadFromEnumerable([new EncodeTests.VideoRow { Video = new float[3 * 9 * 32 * 32] }], def);
        using var t = ml.Transforms.WfVaeEncode("Latent", "Video", TinyModel).Fit(data);

        var other = SchemaDefinition.Create(typeof(EncodeTests.VideoRow));
        other["Video"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, 3, 5, 32, 32);
        var otherData = ml.Data.LoadFromEnumerable([new EncodeTests.VideoRow { Video = new float[3 * 5 * 32 * 32] }], other);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => t.GetOutputSchema(otherData.Schema));
        Assert.StartsWith("Schema mismatch for input column 'Video': expected Vector<Single, 3, 9, 32, 32>, got Vector<Single, 3, 5, 32, 32>", e.Message);

        var bad = SchemaDefinition.Create(typeof(EncodeTests.VideoRow));
        bad["Video"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, 3, 10, 32, 30);
        var badData = ml.Data.LoadFromEnumerable([new EncodeTests.VideoRow { Video = new float[3 * 10 * 32 * 30] }], bad);
        var e2 = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.WfVaeEncode("Latent", "Video", TinyModel).Fit(badData));
        Assert.Contains("10 frames is not 1 + 4k (nearest valid: 9 or 13)", e2.Message);
        Assert.Contains("width 30 is not a multiple of 8 (nearest valid: 24 or 32)", e2.Message);
    }

    [Fact]
    public void InvalidOptions_NameTheOptionAndValidValues()
    {
        var ml = new MLContext(seed: 1);
        var o = new WfVaeEncoderOptions { OutputColumnName = "Latent", InputColumnName = "Video", ModelDirectory = ModelDir };
        Assert.Contains("MaxFrames 10 is not 1 + 4k (nearest valid: 9 or 13)", Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.WfVaeEncode(o with { MaxFrames = 10 })).Message);
        Assert.Contains("Width 30 is not a multiple of 8 (nearest valid: 24 or 32)", Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.WfVaeEncode(o with { Width = 30 })).Message);
        Assert.Contains("ChunkFrames must be a positive multiple of 4", Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.WfVaeEncode(o with { ChunkFrames = 6 })).Message);
        Assert.Contains("exactly one of", Assert.Throws<ArgumentException>(() => ml.Transforms.WfVaeEncode(o with { Model = TinyModel })).Message);
        Assert.Contains("reserved", Assert.Throws<ArgumentException>(() => ml.Transforms.WfVaeEncode(o with { OutputColumnName = "WfVae::x" })).Message);
        Assert.Contains("device 'tpu' is not valid", Assert.Throws<ArgumentException>(() => ml.Transforms.WfVaeEncode(o with { Device = "tpu" })).Message);
    }

    [Theory]
    [InlineData("missing", "file does not exist")]
    [InlineData("not-a-video", "ffprobe could not read it")]
    [InlineData("ten-frames", "10 frames, which is not 1 + 4k (nearest valid: 9 or 13)")]
    public void BadFileRow_FailsNamingTheFile(string which, string problem)
    {
        string bad = which switch { "missing" => Missing, "not-a-video" => NotAVideo, _ => TenFrames };
        var ml = new MLContext(seed: 1);
        var data = Paths(ml, Box, bad);
        using var t = ml.Transforms.WfVaeEncode(new WfVaeEncoderOptions
        {
            OutputColumnName = "Latent",
            InputColumnName = "Video",
            Model = TinyModel,
            Width = 32,
            Height = 32,
        }).Fit(data);
        var view = t.Transform(data);
        using var cursor = view.GetRowCursor([view.Schema["Latent"]]);
        var getter = cursor.GetGetter<VBuffer<float>>(view.Schema["Latent"]);
        VBuffer<float> v = default;
        Assert.True(cursor.MoveNext());
        getter(ref v); // the good row encodes
        Assert.Equal(16 * 3 * 4 * 4, v.Length);
        Assert.True(cursor.MoveNext());
        var e = Assert.Throws<WfVaeRowException>(() => getter(ref v));
        Assert.Equal(bad, e.FilePath);
        Assert.Equal(1, e.RowPosition);
        Assert.Contains($"WfVaeEncode failed on row 1 of column 'Video', file '{bad}'", e.Message);
        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void WrongSizeVectorRow_FailsNamingTheRow()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable([new EncodeTests.VideoRow { Video = new float[3 * 9 * 16 * 16] }, new EncodeTests.VideoRow { Video = new float[100] }]);
        using var t = ml.Transforms.WfVaeEncode(new WfVaeEncoderOptions
        {
            OutputColumnName = "Latent",
            InputColumnName = "Video",
            Model = TinyModel,
            Height = 16,
            Width = 16,
            OutputPooledFeatures = false,
        }).Fit(data);
        var e = Assert.Throws<WfVaeRowException>(() => Column(t.Transform(data), "Latent"));
        Assert.Equal(1, e.RowPosition);
        Assert.Null(e.FilePath);
        Assert.Contains("WfVaeEncode failed on row 1 of column 'Video': the video vector has 100 values, which is not a whole number of 3x16x16 frames", e.Message);
    }

    /// <summary>
    /// Fits <paramref name="est"/> behind a no-op stage: EstimatorChain.Fit first propagates ML.NET's own SchemaShape through
    /// every estimator's GetOutputSchema (SchemaShape.Create is internal), so this exercises the shape-level check.
    /// </summary>
    private static void FitInChain<T>(MLContext ml, IDataView data, IEstimator<T> est) where T : class, ITransformer =>
        ml.Transforms.CopyColumns("__copy", data.Schema[0].Name).Append(est).Fit(data);
}
