using Microsoft.Data.Analysis;
using Microsoft.ML;
using Microsoft.ML.Data;
using WfVae.MLNet;
using WfVae.Video;
using static TorchSharp.torch;
using static WfVae.Tests.MLNet.MLNetTestData;

namespace WfVae.Tests.MLNet;

/// <summary>WF-VAE stages composed with other ML.NET stages, parallel cursors, and DataFrames.</summary>
public sealed class CompositionTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("wfvae-mlnet-compose");

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    public sealed class LabeledVideo
    {
        public string Video { get; set; } = "";
        public string Label { get; set; } = "";
    }

    public sealed class Prediction
    {
        public string PredictedLabel { get; set; } = "";
    }

    [Fact]
    public void PathColumn_Encode_Normalize_SdcaMaximumEntropy_LearnsBoxColour()
    {
        // 3 colours x 6 videos of an 8x8 box moving in a random direction on grey, 16x16, 5 frames; 4 per colour train, 2 test.
        var rng = new Random(5);
        string[] colours = ["red", "lime", "blue"];
        var videos = colours.SelectMany(colour => Enumerable.Range(0, 6).Select(i => (Colour: colour, Index: i,
            File: Path.Combine(_dir, $"{colour} {i}.mkv"), X: rng.Next(0, 8), Y: rng.Next(0, 8), Vx: rng.Next(-1, 2), Vy: rng.Next(-1, 2)))).ToList();
        Parallel.ForEach(videos, v => GenerateBox(v.File, v.Colour, 16, v.X, v.Y, v.Vx, v.Vy, frames: 5));
        var train = videos.Where(v => v.Index < 4).Select(v => new LabeledVideo { Video = v.File, Label = v.Colour }).ToList();
        var test = videos.Where(v => v.Index >= 4).Select(v => new LabeledVideo { Video = v.File, Label = v.Colour }).ToList();

        var ml = new MLContext(seed: 1);
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.Transforms.WfVaeEncode("Latent", "Video", ModelDir, width: 16, height: 16, maxFrames: 5))
            .AppendCacheCheckpoint(ml)
            .Append(ml.Transforms.Concatenate("Features", "Latent.Pooled"))
            .Append(ml.Transforms.NormalizeMinMax("Features"))
            .Append(ml.MulticlassClassification.Trainers.SdcaMaximumEntropy(maximumNumberOfIterations: 50))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
        var trainData = ml.Data.LoadFromEnumerable(train);
        var testData = ml.Data.LoadFromEnumerable(test);
        using var trained = pipeline.Fit(trainData);

        var scored = trained.Transform(testData);
        var before = scored.GetColumn<string>("PredictedLabel").ToArray();
        double accuracy = before.Zip(test, (p, t) => p == t.Label ? 1.0 : 0.0).Average();
        Assert.True(accuracy >= 0.8, $"held-out accuracy {accuracy:P0} does not clearly beat chance (33%): predicted {string.Join(",", before)}");

        // The whole trained pipeline survives save/load: same predictions.
        string zip = Path.Combine(_dir, "classifier.zip");
        ml.Model.Save(trained, trainData.Schema, zip);
        var loaded = ml.Model.Load(zip, out _);
        var after = loaded.Transform(ml.Data.LoadFromEnumerable(test.Take(2))).GetColumn<string>("PredictedLabel").ToArray();
        Assert.Equal(before.Take(2), after);
        var engine = ml.Model.CreatePredictionEngine<LabeledVideo, Prediction>(loaded);
        Assert.Equal(before[^1], engine.Predict(test[^1]).PredictedLabel);
    }

    public sealed class PsnrInput
    {
        public string Video { get; set; } = "";

        [VectorType]
        public float[] Decoded { get; set; } = [];
    }

    public sealed class PsnrOutput
    {
        public double Psnr { get; set; }
    }

    [Fact]
    public void PathColumn_Encode_Decode_PsnrColumn()
    {
        var ml = new MLContext(seed: 1);
        var data = Paths(ml, Box, Mandelbrot);
        var pipeline = ml.Transforms.WfVaeEncode(new WfVaeEncoderOptions
            {
                OutputColumnName = "Latent",
                InputColumnName = "Video",
                Model = TinyModel,
                Width = 32,
                Height = 32,
                MaxFrames = 9,
                OutputPooledFeatures = false,
            })
            .Append(ml.Transforms.WfVaeDecode(new WfVaeDecoderOptions { OutputColumnName = "Decoded", InputColumnName = "Latent", Model = TinyModel, ClampOutput = true }))
            .Append(ml.Transforms.CustomMapping<PsnrInput, PsnrOutput>(
                (src, dst) =>
                {
                    using var source = ReadVideo(src.Video, 32, 32, 9);
                    dst.Psnr = Psnr(Flat(source), src.Decoded);
                }, contractName: null));
        using var full = pipeline.Fit(data);
        var view = full.Transform(data);
        Assert.Equal([3, 9, 32, 32], ((VectorDataViewType)view.Schema["Decoded"].Type).Dimensions.ToArray());

        var psnr = new List<double>();
        var decoded = new List<float[]>();
        using (var cursor = view.GetRowCursor([view.Schema["Psnr"], view.Schema["Decoded"]]))
        {
            var psnrGetter = cursor.GetGetter<double>(view.Schema["Psnr"]);
            var videoGetter = cursor.GetGetter<VBuffer<float>>(view.Schema["Decoded"]);
            double p = 0;
            VBuffer<float> video = default;
            while (cursor.MoveNext())
            {
                psnrGetter(ref p);
                videoGetter(ref video);
                psnr.Add(p);
                decoded.Add(video.DenseValues().ToArray());
            }
        }
        Assert.All(psnr, p => Assert.True(double.IsFinite(p) && p > 0, $"PSNR {p}"));

        using var x = ReadVideo(Box, 32, 32, 9);
        using var d = TinyModel.Encode(x);
        using var v = TinyModel.Decode(d.Mean).clamp(-1, 1);
        AssertClose(Flat(v), decoded[0], 1e-5, "decoded video");
        Assert.Equal(Psnr(Flat(x), Flat(v)), psnr[0], 6);
    }

    [Fact]
    public void ParallelCursors_AreSafe_AndEqualSequentialValues()
    {
        var ml = new MLContext(seed: 1);
        string[] files = [Box, Mandelbrot, Box];
        var source = new SplitPathView(files);
        using var t = ml.Transforms.WfVaeEncode(new WfVaeEncoderOptions
        {
            OutputColumnName = "Latent",
            InputColumnName = "Video",
            Model = TinyModel,
            Width = 32,
            Height = 32,
            MaxFrames = 9,
        }).Fit(source);
        var view = t.Transform(source);
        var sequential = Column(view, "Latent");

        var cursors = view.GetRowCursorSet([view.Schema["Latent"], view.Schema["Index"]], 3);
        Assert.Equal(3, cursors.Length);
        var results = new float[files.Length][];
        Parallel.ForEach(cursors, new ParallelOptions { MaxDegreeOfParallelism = 3 }, cursor =>
        {
            using (cursor)
            {
                var latent = cursor.GetGetter<VBuffer<float>>(view.Schema["Latent"]);
                var index = cursor.GetGetter<int>(view.Schema["Index"]);
                VBuffer<float> v = default;
                int i = 0;
                while (cursor.MoveNext())
                {
                    latent(ref v);
                    index(ref i);
                    results[i] = v.DenseValues().ToArray();
                }
            }
        });
        for (int i = 0; i < files.Length; i++)
            Assert.True(sequential[i].SequenceEqual(results[i]), $"row {i} differs between a parallel cursor and the sequential one");
        Assert.True(results[0].SequenceEqual(results[2]), "the same file gives the same latent");
    }

    [Fact]
    public void DataFrame_OfPaths_EncodesToLatentColumns_AndLatentsDecode()
    {
        var ml = new MLContext(seed: 1);
        var frame = new DataFrame(new StringDataFrameColumn("Video", [Box, Mandelbrot]), new Int32DataFrameColumn("Id", [10, 20]));
        var encoded = frame.EncodeVideos(ml, "Latent", "Video", ModelDir, width: 32, height: 32, maxFrames: 9);

        Assert.Equal(["Video", "Id", "Latent", "Latent.Pooled"], encoded.Columns.Select(c => c.Name));
        Assert.Equal(2, encoded.Rows.Count);
        Assert.Equal(20, encoded["Id"][1]);
        var latents = Assert.IsType<VBufferDataFrameColumn<float>>(encoded["Latent"]);
        using var x = ReadVideo(Mandelbrot, 32, 32, 9);
        using var d = TinyModel.Encode(x);
        AssertClose(Flat(d.Mean), latents[1].DenseValues().ToArray(), 1e-5, "latent from the DataFrame");
        Assert.Equal(32, ((VBufferDataFrameColumn<float>)encoded["Latent.Pooled"])[0].Length);

        var decoded = encoded.DecodeLatents(ml, "Decoded", "Latent", ModelDir, latentHeight: 4, latentWidth: 4);
        var videos = Assert.IsType<VBufferDataFrameColumn<float>>(decoded["Decoded"]);
        using var v = TinyModel.Decode(d.Mean);
        AssertClose(Flat(v), videos[1].DenseValues().ToArray(), 1e-5, "decoded video from the DataFrame");
    }

    /// <summary>A path view whose cursor set splits rows round-robin over n cursors (like a parallel loader).</summary>
    private sealed class SplitPathView(string[] paths) : IDataView
    {
        private readonly string[] _paths = paths;

        public DataViewSchema Schema { get; } = BuildSchema();
        public bool CanShuffle => false;
        public long? GetRowCount() => _paths.Length;
        public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) => new Cursor(this, 0, 1);

        public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
            [.. Enumerable.Range(0, Math.Max(1, n)).Select(k => (DataViewRowCursor)new Cursor(this, k, Math.Max(1, n)))];

        private static DataViewSchema BuildSchema()
        {
            var b = new DataViewSchema.Builder();
            b.AddColumn("Video", TextDataViewType.Instance);
            b.AddColumn("Index", NumberDataViewType.Int32);
            return b.ToSchema();
        }

        private sealed class Cursor(SplitPathView parent, int first, int step) : DataViewRowCursor
        {
            private long _pos = -1;
            private int Row => first + (int)_pos * step;
            public override DataViewSchema Schema => parent.Schema;
            public override long Position => _pos;
            public override long Batch => first;
            public override bool MoveNext() => first + ++_pos * step < parent._paths.Length;
            public override ValueGetter<DataViewRowId> GetIdGetter() => (ref DataViewRowId id) => id = new DataViewRowId((ulong)Row, 0);
            public override bool IsColumnActive(DataViewSchema.Column column) => true;

            public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
            {
                if (column.Index == 0)
                {
                    ValueGetter<ReadOnlyMemory<char>> g = (ref ReadOnlyMemory<char> v) => v = parent._paths[Row].AsMemory();
                    return (ValueGetter<TValue>)(Delegate)g;
                }
                ValueGetter<int> ig = (ref int v) => v = Row;
                return (ValueGetter<TValue>)(Delegate)ig;
            }
        }
    }
}
