using System.Globalization;
using Microsoft.Data.Analysis;
using Microsoft.ML;
using Microsoft.ML.Data;
using WfVae.Datasets;
using WfVae.MLNet;
using static TorchSharp.torch;
using static WfVae.Tests.MLNet.MLNetTestData;

namespace WfVae.Tests.MLNet;

/// <summary>
/// A tiny latent dataset (4 manifest rows in 2 shards: three 32x32 9-frame clips and one unreadable file) written by
/// <see cref="DatasetEncoder"/>, made once for the tests of <c>LoadWfVaeLatents</c>.
/// </summary>
public sealed class LatentDatasetFixture : IDisposable
{
    public LatentDatasetFixture()
    {
        Root = TestPaths.NewTempDir("wfvae-latents");
        Videos = [Testsrc, Mandelbrot, NotAVideo, Box];
        Captions = ["test pattern", "fractal, zoom", "broken", "red box"];
        Scores = [0.25f, 0.5f, 0.75f, 1f];
        string csv = Path.Combine(Root, "manifest.csv");
        File.WriteAllLines(csv, ["path,caption,score", .. Videos.Select((v, i) =>
            $"\"{v}\",\"{Captions[i]}\",{Scores[i].ToString(CultureInfo.InvariantCulture)}")]);
        Dataset = Path.Combine(Root, "dataset");
        var result = new DatasetEncoder(TinyModel).Run(new DatasetEncodeOptions
        {
            Manifest = csv,
            OutputDirectory = Dataset,
            Settings = new DatasetSettings { Frames = 9, Width = 32, Height = 32, ClipsPerShard = 2 },
        });
        Assert.True(result.ManifestWritten);
        Assert.Equal((3, 1), (result.ClipsOk, result.ClipsFailed));
    }

    public string Root { get; }
    public string Dataset { get; }
    public string[] Videos { get; }
    public string[] Captions { get; }
    public float[] Scores { get; }

    /// <summary>Manifest rows of the ok clips (row 2 is the unreadable file).</summary>
    public int[] OkRows => [0, 1, 3];

    /// <summary>A copy of the dataset that a test may change.</summary>
    public string Copy()
    {
        string to = Path.Combine(Root, "copy-" + Guid.NewGuid().ToString("N"));
        foreach (var file in Directory.EnumerateFiles(Dataset, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(to, Path.GetRelativePath(Dataset, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
        return to;
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary><c>mlContext.Data.LoadWfVaeLatents</c>: values, schema, failed clips, composition with trainers and WfVaeDecode, errors.</summary>
public sealed class LatentDatasetTests(LatentDatasetFixture data) : IClassFixture<LatentDatasetFixture>
{
    private static readonly int[] Shape = [16, 3, 4, 4];

    [Fact]
    public void Latents_EqualShardTensors_AndModelEncodeOfTheSameFrames()
    {
        var view = new MLContext(seed: 1).Data.LoadWfVaeLatents(data.Dataset);
        Assert.Equal(3L, view.GetRowCount());
        var latents = Column(view, "Latent");
        var keys = view.GetColumn<ReadOnlyMemory<char>>("shard_key").Select(k => k.ToString()).ToList();
        var shards = view.GetColumn<ReadOnlyMemory<char>>("shard_file").Select(k => k.ToString()).ToList();
        Assert.Equal(3, latents.Count);
        for (int r = 0; r < 3; r++)
        {
            using var scope = NewDisposeScope();
            using (var shard = new SafetensorsReader(Path.Combine(data.Dataset, shards[r])))
                AssertClose(Flat(shard.Read(keys[r])), latents[r], 0, $"row {r} vs shard tensor '{keys[r]}'");
            var x = ReadVideo(data.Videos[data.OkRows[r]], 32, 32, 9);
            using var posterior = TinyModel.Encode(x);
            Assert.Equal([1, .. Shape], posterior.Mean.shape.Select(d => (int)d).ToArray());
            AssertClose(Flat(posterior.Mean), latents[r], 1e-5, $"row {r} vs model.Encode of '{data.Videos[data.OkRows[r]]}'");
        }
        Assert.Equal(["shards/shard-000000.safetensors", "shards/shard-000000.safetensors", "shards/shard-000001.safetensors"], shards);
    }

    [Fact]
    public void Schema_HasTypedManifestColumns_CarriedColumns_AndAKnownSizeLatent()
    {
        var view = new MLContext(seed: 1).Data.LoadWfVaeLatents(data.Dataset);
        Assert.Equal([.. ClipRecord.ColumnNames, "caption", "score", "Latent"], view.Schema.Select(c => c.Name).ToArray());
        var latent = Assert.IsType<VectorDataViewType>(view.Schema["Latent"].Type);
        Assert.Equal(NumberDataViewType.Single, latent.ItemType);
        Assert.Equal(Shape, latent.Dimensions.ToArray());
        foreach (var name in new[] { "clip_index", "start_frame", "frame_count", "frame_step", "source_width", "source_height", "resized_width", "resized_height", "crop_x", "crop_y", "width", "height" })
            Assert.True(view.Schema[name].Type == NumberDataViewType.Int32, $"{name} is {view.Schema[name].Type}");
        Assert.Equal(NumberDataViewType.Double, view.Schema["fps"].Type);
        foreach (var name in new[] { "clip_id", "source_path", "latent_shape", "latent_dtype", "shard_file", "shard_key", "status", "error", "caption", "score" })
            Assert.True(view.Schema[name].Type == TextDataViewType.Instance, $"{name} is {view.Schema[name].Type}");

        Assert.Equal(["test pattern", "fractal, zoom", "red box"], view.GetColumn<ReadOnlyMemory<char>>("caption").Select(v => v.ToString()));
        Assert.Equal(["0.25", "0.5", "1"], view.GetColumn<ReadOnlyMemory<char>>("score").Select(v => v.ToString()));
        Assert.Equal(["16,3,4,4", "16,3,4,4", "16,3,4,4"], view.GetColumn<ReadOnlyMemory<char>>("latent_shape").Select(v => v.ToString()));
        Assert.Equal(["00000000_0000", "00000001_0000", "00000003_0000"], view.GetColumn<ReadOnlyMemory<char>>("clip_id").Select(v => v.ToString()));
        Assert.Equal([48, 32, 32], view.GetColumn<int>("source_width"));
        Assert.Equal([32, 32, 32], view.GetColumn<int>("width"));
        Assert.Equal([9, 9, 9], view.GetColumn<int>("frame_count"));
        Assert.All(view.GetColumn<double>("fps"), fps => Assert.Equal(8, fps, 6));

        var options = new WfVaeLatentLoadOptions { LatentColumnName = "Z" };
        var renamed = new MLContext(seed: 1).Data.LoadWfVaeLatents(data.Dataset, options);
        Assert.Equal(latent, renamed.Schema["Z"].Type);
        var clash = Assert.Throws<ArgumentException>(() => new MLContext().Data.LoadWfVaeLatents(data.Dataset, new WfVaeLatentLoadOptions { LatentColumnName = "caption" }));
        Assert.Contains("'caption' is the name of a manifest column", clash.Message);
    }

    [Fact]
    public void FailedClips_AreSkippedByDefault_AndIncludedWithMissingLatentsOnRequest()
    {
        var ml = new MLContext(seed: 1);
        var skipped = ml.Data.LoadWfVaeLatents(data.Dataset);
        Assert.All(skipped.GetColumn<ReadOnlyMemory<char>>("status"), s => Assert.Equal("ok", s.ToString()));

        var all = ml.Data.LoadWfVaeLatents(data.Dataset, new WfVaeLatentLoadOptions { IncludeFailed = true });
        Assert.Equal(4L, all.GetRowCount());
        Assert.Equal(skipped.Schema["Latent"].Type, all.Schema["Latent"].Type);
        Assert.Equal(["ok", "ok", "failed", "ok"], all.GetColumn<ReadOnlyMemory<char>>("status").Select(s => s.ToString()));
        var errors = all.GetColumn<ReadOnlyMemory<char>>("error").Select(s => s.ToString()).ToList();
        Assert.Equal("", errors[0]);
        Assert.NotEqual("", errors[2]);
        Assert.Equal("", all.GetColumn<ReadOnlyMemory<char>>("latent_shape").ElementAt(2).ToString());
        Assert.Equal("broken", all.GetColumn<ReadOnlyMemory<char>>("caption").ElementAt(2).ToString());
        Assert.Equal(0, all.GetColumn<int>("source_width").ElementAt(2));

        var latents = Column(all, "Latent");
        Assert.Equal(16 * 3 * 4 * 4, latents[2].Length);
        Assert.All(latents[2], v => Assert.True(float.IsNaN(v)));
        var okLatents = Column(skipped, "Latent");
        AssertClose(okLatents[2], latents[3], 0, "row 3 with failed rows included");

        var filtered = ml.Data.FilterRowsByMissingValues(all, "Latent");
        Assert.Equal(3, Column(filtered, "Latent").Count);
    }

    [Fact]
    public void Cursors_AreIndependent_WhenOpenedTogetherOnSeveralThreads()
    {
        var view = new MLContext(seed: 1).Data.LoadWfVaeLatents(data.Dataset);
        var expected = Column(view, "Latent");
        var results = new List<float[]>[4];
        Parallel.For(0, results.Length, i => results[i] = Column(view, "Latent"));
        foreach (var r in results)
            for (int row = 0; row < expected.Count; row++) AssertClose(expected[row], r[row], 0, $"row {row}");

        using var cursor = view.GetRowCursor(view.Schema.Where(c => c.Name == "clip_id"));
        Assert.False(cursor.IsColumnActive(view.Schema["Latent"]));
        var notRequested = Assert.Throws<InvalidOperationException>(() => cursor.GetGetter<VBuffer<float>>(view.Schema["Latent"]));
        Assert.Contains("'Latent' was not requested", notRequested.Message);
        var wrongType = Assert.Throws<InvalidOperationException>(() => cursor.GetGetter<int>(view.Schema["clip_id"]));
        Assert.Contains("Invalid TValue in GetGetter", wrongType.Message);
    }

    [Fact]
    public void View_TrainsAnSdcaRegression_OnTheLatentAndACarriedLabel()
    {
        var ml = new MLContext(seed: 1);
        var view = ml.Data.LoadWfVaeLatents(data.Dataset);
        var pipeline = ml.Transforms.Conversion.ConvertType("Label", "score", DataKind.Single)
            .Append(ml.Transforms.Concatenate("Features", "Latent"))
            .Append(ml.Transforms.NormalizeMinMax("Features"))
            .Append(ml.Regression.Trainers.Sdca(maximumNumberOfIterations: 20));
        var model = pipeline.Fit(view);
        var scored = model.Transform(view);
        Assert.Equal([0.25f, 0.5f, 1f], scored.GetColumn<float>("Label"));
        var scores = scored.GetColumn<float>("Score").ToList();
        Assert.Equal(3, scores.Count);
        Assert.All(scores, s => Assert.True(float.IsFinite(s)));
        Assert.Equal(16 * 3 * 4 * 4, ((VectorDataViewType)scored.Schema["Features"].Type).Size);
    }

    [Fact]
    public void WfVaeDecode_DecodesLoadedLatents_IntoVideosOfTheClipShape()
    {
        var ml = new MLContext(seed: 1);
        var view = ml.Data.LoadWfVaeLatents(data.Dataset);
        using var decoder = ml.Transforms.WfVaeDecode("Video", "Latent", ModelDir).Fit(view);
        var decoded = decoder.Transform(view);
        Assert.Equal([3, 9, 32, 32], ((VectorDataViewType)decoded.Schema["Video"].Type).Dimensions.ToArray());
        var columns = Columns(decoded, "Latent", "Video");
        var (latents, videos) = (columns[0], columns[1]);
        Assert.Equal(3, videos.Count);
        using var scope = NewDisposeScope();
        var z = tensor(latents[2], [1, .. Shape.Select(d => (long)d)]);
        AssertClose(Flat(TinyModel.Decode(z)), videos[2], 1e-4, "row 2 decoded vs model.Decode");
    }

    [Fact]
    public void DataFrame_HoldsTheManifestColumnsAndTheLatent()
    {
        var frame = WfVaeLatentDataset.LoadDataFrame(data.Dataset);
        Assert.Equal(3, frame.Rows.Count);
        Assert.Equal(["test pattern", "fractal, zoom", "red box"], frame.Columns["caption"].Cast<string>().ToArray());
        Assert.Equal([0, 0, 0], frame.Columns["clip_index"].Cast<int>().ToArray());
        var latent = Assert.IsType<VBufferDataFrameColumn<float>>(frame.Columns["Latent"]);
        var expected = Column(new MLContext().Data.LoadWfVaeLatents(data.Dataset), "Latent");
        for (int r = 0; r < 3; r++)
            AssertClose(expected[r], latent[r].DenseValues().ToArray(), 0, $"row {r}");

        var withFailed = WfVaeLatentDataset.LoadDataFrame(data.Dataset, new WfVaeLatentLoadOptions { IncludeFailed = true });
        Assert.Equal(["ok", "ok", "failed", "ok"], withFailed.Columns["status"].Cast<string>().ToArray());
    }

    [Fact]
    public void NotADataset_AndUnfinishedDataset_AreErrorsNamingTheFile()
    {
        var ml = new MLContext();
        string empty = Path.Combine(data.Root, "not-a-dataset-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(empty);
        var notDataset = Assert.Throws<InvalidDataException>(() => ml.Data.LoadWfVaeLatents(empty));
        Assert.Contains($"'{empty}' is not a WF-VAE latent dataset: it has no dataset.json", notDataset.Message);
        var missingFolder = Assert.Throws<DirectoryNotFoundException>(() => ml.Data.LoadWfVaeLatents(Path.Combine(empty, "nope")));
        Assert.Contains("nope", missingFolder.Message);

        string unfinished = data.Copy();
        File.Delete(Path.Combine(unfinished, "manifest.parquet"));
        File.Delete(Path.Combine(unfinished, "shards", "shard-000001.commit.json"));
        var noManifest = Assert.Throws<FileNotFoundException>(() => ml.Data.LoadWfVaeLatents(unfinished));
        Assert.Contains("has no manifest.parquet: `wfvae dataset encode` writes it once every shard is committed", noManifest.Message);
        Assert.Contains("1 of 2 shards are committed; not yet: shard-000001.commit.json", noManifest.Message);
        Assert.Equal(Path.Combine(unfinished, "manifest.parquet"), noManifest.FileName);

        string noCommit = data.Copy();
        File.Delete(Path.Combine(noCommit, "shards", "shard-000000.commit.json"));
        var uncommitted = Assert.Throws<InvalidDataException>(() => ml.Data.LoadWfVaeLatents(noCommit));
        Assert.Contains("shard-000000.safetensors", uncommitted.Message);
        Assert.Contains("has no commit marker 'shard-000000.commit.json'", uncommitted.Message);
    }

    [Fact]
    public void TamperedShard_IsAnErrorNamingFileAndKey_WhenTheCursorReachesIt()
    {
        var ml = new MLContext();
        string wrongShape = data.Copy();
        string shard1 = Path.Combine(wrongShape, "shards", "shard-000001.safetensors");
        using (var z = zeros(16, 2, 4, 4))
            SafetensorsWriter.Write(shard1, [new KeyValuePair<string, Tensor>("00000003_0000", z)]);
        var view = ml.Data.LoadWfVaeLatents(wrongShape);
        using (var cursor = view.GetRowCursor(view.Schema))
        {
            var latent = cursor.GetGetter<VBuffer<float>>(view.Schema["Latent"]);
            VBuffer<float> v = default;
            for (int row = 0; row < 2; row++)
            {
                Assert.True(cursor.MoveNext());
                latent(ref v); // rows of shard 0 read before the cursor opens shard 1
                Assert.Equal(768, v.Length);
            }
            Assert.True(cursor.MoveNext());
            var e = Assert.Throws<InvalidDataException>(() => latent(ref v));
            Assert.Contains($"shard '{shard1}' tensor '00000003_0000' has shape [16,2,4,4], but manifest.parquet records [16,3,4,4]", e.Message);
        }

        string missingKey = data.Copy();
        string shard0 = Path.Combine(missingKey, "shards", "shard-000000.safetensors");
        using (var z = zeros(16, 3, 4, 4))
            SafetensorsWriter.Write(shard0, [new KeyValuePair<string, Tensor>("00000000_0000", z)]);
        var missing = Assert.Throws<InvalidDataException>(() => Column(ml.Data.LoadWfVaeLatents(missingKey), "Latent"));
        Assert.Contains($"shard '{shard0}' has no tensor '00000001_0000' for clip '00000001_0000'", missing.Message);
        Assert.Equal(3, ml.Data.LoadWfVaeLatents(missingKey).GetColumn<ReadOnlyMemory<char>>("clip_id").Count());
    }

    [Fact]
    public void ClipsOfDifferentShapes_GiveAVariableSizeLatent_AndEmptyLatentsForFailedRows()
    {
        string dir = Path.Combine(data.Root, "native-" + Guid.NewGuid().ToString("N"));
        new DatasetEncoder(TinyModel).Run(new DatasetEncodeOptions
        {
            Manifest = Path.Combine(data.Root, "manifest.csv"),
            OutputDirectory = dir,
            Settings = new DatasetSettings { Frames = 9, ClipsPerShard = 2 },   // native sizes: 48x40 and 32x32
        });
        var view = new MLContext().Data.LoadWfVaeLatents(dir, new WfVaeLatentLoadOptions { IncludeFailed = true });
        var type = Assert.IsType<VectorDataViewType>(view.Schema["Latent"].Type);
        Assert.False(type.IsKnownSize);
        Assert.Equal(["16,3,5,6", "16,3,4,4", "", "16,3,4,4"], view.GetColumn<ReadOnlyMemory<char>>("latent_shape").Select(v => v.ToString()));
        var latents = Column(view, "Latent");
        Assert.Equal([16 * 3 * 5 * 6, 16 * 3 * 4 * 4, 0, 16 * 3 * 4 * 4], latents.Select(l => l.Length));
        using var scope = NewDisposeScope();
        using var posterior = TinyModel.Encode(ReadVideo(Testsrc, maxFrames: 9));
        AssertClose(Flat(posterior.Mean), latents[0], 1e-5, "row 0 vs model.Encode at 48x40");
    }

    [Fact]
    public void Float16Dataset_ReadsAsFloat32_OfTheStoredValues()
    {
        string dir = Path.Combine(data.Root, "fp16-" + Guid.NewGuid().ToString("N"));
        new DatasetEncoder(TinyModel).Run(new DatasetEncodeOptions
        {
            Manifest = Path.Combine(data.Root, "manifest.csv"),
            OutputDirectory = dir,
            Settings = new DatasetSettings { Frames = 9, Width = 32, Height = 32, ClipsPerShard = 3, LatentDType = ScalarType.Float16 },
        });
        var view = new MLContext().Data.LoadWfVaeLatents(dir);
        Assert.Equal(["fp16", "fp16", "fp16"], view.GetColumn<ReadOnlyMemory<char>>("latent_dtype").Select(v => v.ToString()));
        var half = Column(view, "Latent");
        var full = Column(new MLContext().Data.LoadWfVaeLatents(data.Dataset), "Latent");
        using var shard = new SafetensorsReader(Path.Combine(dir, "shards", "shard-000000.safetensors"));
        Assert.Equal("F16", shard.Entries["00000000_0000"].DType);
        using (var stored = shard.Read("00000000_0000"))
            AssertClose(Flat(stored), half[0], 0, "row 0 vs its stored fp16 tensor");
        for (int r = 0; r < 3; r++)
            for (int i = 0; i < full[r].Length; i++)
                Assert.True(Math.Abs(full[r][i] - half[r][i]) <= 1e-3 * Math.Max(1, Math.Abs(full[r][i])), $"row {r} value {i}: fp16 {half[r][i]} vs fp32 {full[r][i]}");
    }
}
