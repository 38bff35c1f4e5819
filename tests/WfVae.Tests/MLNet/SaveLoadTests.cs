using Microsoft.ML;
using Microsoft.ML.Data;
using WfVae.MLNet;
using static WfVae.Tests.MLNet.MLNetTestData;

namespace WfVae.Tests.MLNet;

/// <summary>
/// mlContext.Model.Save / Load of pipelines with WF-VAE stages: same values in this and in a fresh process, and the loaded model
/// refuses weights that are missing or differ from the ones it was saved with.
/// </summary>
public sealed class SaveLoadTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("wfvae-mlnet-save");

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static WfVaeEncoderOptions Options(string modelDir) => new()
    {
        OutputColumnName = "Latent",
        InputColumnName = "Video",
        ModelDirectory = modelDir,
        Width = 32,
        Height = 32,
        MaxFrames = 9,
        ChunkFrames = 8,
        OutputLogVar = true,
        SampleSeed = 7,
    };

    private static readonly string[] OutputNames = ["Latent", "Latent.LogVar", "Latent.Sample", "Latent.Pooled", "Decoded"];

    private static EstimatorChain<WfVaeDecodingTransformer> Pipeline(MLContext ml, string modelDir) =>
        ml.Transforms.WfVaeEncode(Options(modelDir))
            .Append(ml.Transforms.WfVaeDecode(new WfVaeDecoderOptions { OutputColumnName = "Decoded", InputColumnName = "Latent", ModelDirectory = modelDir }));

    [Fact]
    public void SaveLoad_FreshProcess_GivesIdenticalValues()
    {
        var ml = new MLContext(seed: 1);
        var data = Paths(ml, Mandelbrot);
        using var model = Pipeline(ml, ModelDir).Fit(data);
        var inMemory = Columns(model.Transform(data), OutputNames);
        string zip = Path.Combine(_dir, "pipeline.zip");
        ml.Model.Save(model, data.Schema, zip);

        var (types, values, pid) = FreshProcessCheck.Run(zip, [Mandelbrot], OutputNames);
        Assert.NotEqual(Environment.ProcessId, pid);
        Assert.Equal(["Vector<Single, 768>", "Vector<Single, 768>", "Vector<Single, 768>", "Vector<Single, 32>", "Vector<Single, 27648>"], types);
        for (int c = 0; c < OutputNames.Length; c++)
            Assert.True(inMemory[c][0].SequenceEqual(values[c][0]), $"column {OutputNames[c]} differs after loading in a fresh process");
    }

    [Fact]
    public void SaveLoad_InProcess_KeepsValuesAndKnownSizes()
    {
        var ml = new MLContext(seed: 1);
        var data = Paths(ml, Box);
        using var model = Pipeline(ml, ModelDir).Fit(data);
        var view = model.Transform(data);
        Assert.Equal([16, 3, 4, 4], ((VectorDataViewType)view.Schema["Latent"].Type).Dimensions.ToArray());
        Assert.Equal([3, 9, 32, 32], ((VectorDataViewType)view.Schema["Decoded"].Type).Dimensions.ToArray());
        string zip = Path.Combine(_dir, "pipeline.zip");
        ml.Model.Save(model, data.Schema, zip);

        var loaded = ml.Model.Load(zip, out var inputSchema);
        Assert.Equal(TextDataViewType.Instance, inputSchema["Video"].Type);
        var loadedView = loaded.Transform(data);
        Assert.Equal(view.Schema.Where(c => !c.IsHidden).Select(c => c.Name), loadedView.Schema.Where(c => !c.IsHidden).Select(c => c.Name));
        var expected = Columns(view, OutputNames);
        var actual = Columns(loadedView, OutputNames);
        for (int i = 0; i < OutputNames.Length; i++)
        {
            var t = (VectorDataViewType)loadedView.Schema[OutputNames[i]].Type;
            Assert.True(t.IsKnownSize, OutputNames[i]);
            Assert.Equal(((VectorDataViewType)view.Schema[OutputNames[i]].Type).Size, t.Size);
            Assert.Equal(expected[i], actual[i]);
        }
    }

    [Fact]
    public void SaveLoad_VectorInputAndCutDecoder_KeepValues()
    {
        var ml = new MLContext(seed: 1);
        using var x = ReadVideo(Box, 16, 16, 9);
        var def = SchemaDefinition.Create(typeof(EncodeTests.VideoRow));
        def["Video"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, 3, 9, 16, 16);
        var data = ml.Data.LoadFromEnumerable([new EncodeTests.VideoRow { Video = Flat(x) }], def);
        var pipeline = ml.Transforms.WfVaeEncode(new WfVaeEncoderOptions { OutputColumnName = "Latent", InputColumnName = "Video", Model = TinyModel, ChunkFrames = 4 })
            .Append(ml.Transforms.WfVaeDecode(new WfVaeDecoderOptions { OutputColumnName = "Decoded", InputColumnName = "Latent", Model = TinyModel, ChunkLatentFrames = null, Frames = 7, Height = 12 }));
        using var model = pipeline.Fit(data);
        var view = model.Transform(data);
        Assert.Equal([3, 7, 12, 16], ((VectorDataViewType)view.Schema["Decoded"].Type).Dimensions.ToArray());
        string zip = Path.Combine(_dir, "vector.zip");
        ml.Model.Save(model, data.Schema, zip);
        var loaded = ml.Model.Load(zip, out var inputSchema);
        Assert.Equal(def["Video"].ColumnType, inputSchema["Video"].Type);
        var loadedView = loaded.Transform(data);
        Assert.Equal(Columns(view, "Latent", "Latent.Pooled", "Decoded"), Columns(loadedView, "Latent", "Latent.Pooled", "Decoded"));
    }

    [Fact]
    public void Load_WithChangedOrMissingWeights_FailsClearly_UntilTheWeightsAreRegistered()
    {
        string copy = Path.Combine(_dir, "model copy");
        Directory.CreateDirectory(copy);
        foreach (var f in new[] { WfVaeModel.ConfigFileName, WfVaeModel.WeightsFileName })
            File.Copy(Path.Combine(ModelDir, f), Path.Combine(copy, f));
        var ml = new MLContext(seed: 1);
        var data = Paths(ml, Box);
        string zip = Path.Combine(_dir, "encoder.zip");
        float[] expected;
        using (var t = ml.Transforms.WfVaeEncode(Options(copy) with { OutputLogVar = false, SampleSeed = null }).Fit(data))
        {
            expected = Column(t.Transform(data), "Latent")[0];
            ml.Model.Save(t, data.Schema, zip);
        }

        // Change one weight byte at the end of the file (same size and layout, different sha256).
        WfVaeModelRegistry.Clear();
        string weights = Path.Combine(copy, WfVaeModel.WeightsFileName);
        byte[] bytes = File.ReadAllBytes(weights);
        bytes[^1] ^= 0x01;
        File.WriteAllBytes(weights, bytes);
        var changed = ml.Model.Load(zip, out _);
        var r1 = Find<WfVaeModelReferenceException>(Assert.ThrowsAny<Exception>(() => Column(changed.Transform(data), "Latent")));
        Assert.Contains("not the recorded", r1.Message);
        Assert.Contains(weights, r1.Message);
        Assert.Equal(Path.GetFullPath(copy), r1.Directory);

        // Remove the folder: the error names it and says how to fix it.
        Directory.Delete(copy, recursive: true);
        var missing = ml.Model.Load(zip, out _);
        var e2 = Find<WfVaeModelReferenceException>(Assert.ThrowsAny<Exception>(() => Column(missing.Transform(data), "Latent")));
        Assert.Contains("does not exist", e2.Message);
        Assert.Contains("WfVaeModelRegistry.RegisterModelDirectory", e2.Message);

        // The same weights elsewhere, registered by sha256, serve the loaded pipeline.
        Assert.Equal(r1.WeightsSha256, WfVaeModelRegistry.RegisterModelDirectory(ModelDir));
        Assert.Equal(expected, Column(missing.Transform(data), "Latent")[0]);
        WfVaeModelRegistry.Clear();
    }

    [Fact]
    public void Save_ModelWithoutFolder_FailsNamingTheFix()
    {
        var ml = new MLContext(seed: 1);
        var data = Paths(ml, Box);
        using var random = WfVaeModel.Create(TinyModel.Config, seed: 3);
        using var t = ml.Transforms.WfVaeEncode("Latent", "Video", random).Fit(data);
        var e = Assert.Throws<InvalidOperationException>(() => ml.Model.Save(t, data.Schema, Path.Combine(_dir, "x.zip")));
        Assert.Contains("SourceDirectory is null", e.Message);
    }

    private static T Find<T>(Exception e) where T : Exception
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
            if (x is T t) return t;
        throw new Xunit.Sdk.XunitException($"Expected a {typeof(T).Name} in the exception chain, got: {e}");
    }
}
