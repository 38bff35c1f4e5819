using Microsoft.ML;
using Microsoft.ML.Data;
using WfVae.MLNet;
using WfVae.Video;
using static TorchSharp.torch;
using static WfVae.Tests.MLNet.MLNetTestData;

namespace WfVae.Tests.MLNet;

/// <summary>WfVaeEncode over path and vector columns equals the model API on the same frames.</summary>
public sealed class EncodeTests
{
    private const double Tol = 1e-5;

    [Fact]
    public void PathColumn_EqualsModelEncode_ForEveryOutput()
    {
        var ml = new MLContext(seed: 1);
        var data = Paths(ml, Testsrc, Mandelbrot);
        var options = new WfVaeEncoderOptions
        {
            OutputColumnName = "Latent",
            InputColumnName = "Video",
            ModelDirectory = ModelDir,
            Width = 32,
            Height = 32,
            MaxFrames = 9,
            ChunkFrames = 4,
            OutputLogVar = true,
            SampleSeed = 42,
        };
        using var t = ml.Transforms.WfVaeEncode(options).Fit(data);
        var view = t.Transform(data);

        var latentType = Assert.IsType<VectorDataViewType>(view.Schema["Latent"].Type);
        Assert.Equal([16, 3, 4, 4], latentType.Dimensions.ToArray());
        Assert.Equal(latentType, view.Schema["Latent.LogVar"].Type);
        Assert.Equal(latentType, view.Schema["Latent.Sample"].Type);
        Assert.Equal(32, ((VectorDataViewType)view.Schema["Latent.Pooled"].Type).Size);
        Assert.Equal([16, 3, 4, 4], t.LatentShape!.ToArray());

        var all = Columns(view, "Latent", "Latent.LogVar", "Latent.Sample", "Latent.Pooled");
        var (mean, logvar, sample, pooled) = (all[0], all[1], all[2], all[3]);
        string[] files = [Testsrc, Mandelbrot];
        for (int r = 0; r < files.Length; r++)
        {
            using var scope = NewDisposeScope();
            var x = ReadVideo(files[r], 32, 32, 9);
            using var d = TinyModel.Encode(x);
            AssertClose(Flat(d.Mean), mean[r], Tol, $"row {r} mean");
            AssertClose(Flat(d.LogVar), logvar[r], Tol, $"row {r} logvar");
            AssertClose(Flat(d.Sample(42)), sample[r], 1e-4, $"row {r} sample");
            var m = d.Mean.mean([2, 3, 4]);
            var s = d.Mean.std([2, 3, 4], unbiased: false);
            AssertClose(Flat(cat([m, s], 1)), pooled[r], Tol, $"row {r} pooled");
        }
    }

    [Fact]
    public void PathColumn_NativeSize_GivesVariableSizeLatents()
    {
        var ml = new MLContext(seed: 1);
        var data = Paths(ml, Mandelbrot);
        using var t = ml.Transforms.WfVaeEncode("Latent", "Video", TinyModel).Fit(data);
        var view = t.Transform(data);
        var type = Assert.IsType<VectorDataViewType>(view.Schema["Latent"].Type);
        Assert.False(type.IsKnownSize);
        Assert.Null(t.LatentShape);
        Assert.Equal(["Latent", "Latent.Pooled"], t.OutputColumnNames);

        using var x = ReadVideo(Mandelbrot);
        using var d = TinyModel.Encode(x);
        AssertClose(Flat(d.Mean), Column(view, "Latent")[0], Tol, "mean");
    }

    [Fact]
    public void VectorColumn_WithDimensions_EqualsModelEncode()
    {
        var ml = new MLContext(seed: 1);
        using var x = ReadVideo(Mandelbrot);
        float[] video = Flat(x);
        var schema = SchemaDefinition.Create(typeof(VideoRow));
        schema["Video"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, 3, 9, 32, 32);
        var data = ml.Data.LoadFromEnumerable([new VideoRow { Video = video }], schema);

        using var t = ml.Transforms.WfVaeEncode(new WfVaeEncoderOptions
        {
            OutputColumnName = "Latent",
            InputColumnName = "Video",
            Model = TinyModel,
            OutputPooledFeatures = false,
        }).Fit(data);
        var view = t.Transform(data);
        Assert.Equal([16, 3, 4, 4], ((VectorDataViewType)view.Schema["Latent"].Type).Dimensions.ToArray());
        Assert.False(view.Schema.GetColumnOrNull("Latent.Pooled").HasValue);
        using var d = TinyModel.Encode(x);
        AssertClose(Flat(d.Mean), Column(view, "Latent")[0], Tol, "mean");
    }

    [Fact]
    public void FlatVectorColumn_UsesHeightAndWidthOptions()
    {
        var ml = new MLContext(seed: 1);
        using var x = ReadVideo(Box);
        var schema = SchemaDefinition.Create(typeof(VideoRow));
        schema["Video"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, 3 * 9 * 32 * 32);
        var data = ml.Data.LoadFromEnumerable([new VideoRow { Video = Flat(x) }], schema);
        var options = new WfVaeEncoderOptions { OutputColumnName = "Latent", InputColumnName = "Video", Model = TinyModel };

        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.WfVaeEncode(options).Fit(data));
        Assert.Contains("Schema mismatch for input column 'Video': expected Vector<Single, 3, T, H, W>, got Vector<Single, 27648>", ex.Message);

        using var t = ml.Transforms.WfVaeEncode(options with { Height = 32, Width = 32 }).Fit(data);
        var view = t.Transform(data);
        Assert.Equal([16, 3, 4, 4], ((VectorDataViewType)view.Schema["Latent"].Type).Dimensions.ToArray());
        using var d = TinyModel.Encode(x);
        AssertClose(Flat(d.Mean), Column(view, "Latent")[0], Tol, "mean");
    }

    [Fact]
    public void PadAndTrim_PadsFramesAndSize_LikePadToValid()
    {
        var ml = new MLContext(seed: 1);
        var data = Paths(ml, TenFrames);
        using var t = ml.Transforms.WfVaeEncode(new WfVaeEncoderOptions
        {
            OutputColumnName = "Latent",
            InputColumnName = "Video",
            Model = TinyModel,
            Width = 28,
            Height = 20,
            MaxFrames = 10,
            ChunkFrames = 8,
            ShapePolicy = ShapePolicy.PadAndTrim,
        }).Fit(data);
        Assert.Equal([16, 4, 3, 4], t.LatentShape!.ToArray()); // 10 → 13 frames, 20x28 → 24x32
        using var x = ReadVideo(TenFrames, 28, 20, 10);
        using var padded = TinyModel.PadToValid(x);
        using var d = TinyModel.Encode(padded);
        AssertClose(Flat(d.Mean), Column(t.Transform(data), "Latent")[0], Tol, "mean");
    }

    [Fact]
    public void PathColumn_StartAndFrameStep_SampleFramesLikeTheReader()
    {
        var ml = new MLContext(seed: 1);
        var data = Paths(ml, Testsrc);
        var options = new WfVaeEncoderOptions
        {
            OutputColumnName = "Latent",
            InputColumnName = "Video",
            Model = TinyModel,
            Width = 16,
            Height = 16,
            Start = TimeSpan.FromSeconds(0.25),
            FrameStep = 2,
            MaxFrames = 5,
            OutputPooledFeatures = false,
        };
        using var t = ml.Transforms.WfVaeEncode(options).Fit(data);
        using var x = ReadVideo(Testsrc, 16, 16, 5, options.Start, frameStep: 2);
        Assert.Equal(5, x.shape[2]);
        using var d = TinyModel.Encode(x);
        AssertClose(Flat(d.Mean), Column(t.Transform(data), "Latent")[0], Tol, "mean");
    }

    [Fact]
    public void OutputColumns_ShareOneModelRunPerRow()
    {
        var ml = new MLContext(seed: 1);
        var source = new CountingPathView(Mandelbrot, Box);
        using var t = ml.Transforms.WfVaeEncode(new WfVaeEncoderOptions
        {
            OutputColumnName = "Latent",
            InputColumnName = "Video",
            Model = TinyModel,
            OutputLogVar = true,
        }).Fit(source);
        var view = t.Transform(source);
        var cols = new[] { view.Schema["Latent"], view.Schema["Latent.LogVar"], view.Schema["Latent.Pooled"] };
        using var cursor = view.GetRowCursor(cols);
        var getters = cols.Select(c => cursor.GetGetter<VBuffer<float>>(c)).ToArray();
        int rows = 0;
        while (cursor.MoveNext())
        {
            rows++;
            foreach (var g in getters)
            {
                VBuffer<float> v = default;
                g(ref v);
                g(ref v);
                Assert.True(v.Length > 0);
            }
        }
        Assert.Equal(2, rows);
        Assert.Equal(2, source.ValueReads); // one read of the path (one model run) per row for 3 columns × 2 reads

        // A cursor that needs no output column never touches the model or the input column.
        using var passThrough = view.GetRowCursor([view.Schema["Video"]]);
        while (passThrough.MoveNext()) { }
        Assert.Equal(2, source.ValueReads);
    }

    [Fact]
    public void PredictionEngine_EncodesSingleRows()
    {
        var ml = new MLContext(seed: 1);
        var data = Paths(ml, Box);
        using var t = ml.Transforms.WfVaeEncode("Latent", "Video", ModelDir, width: 32, height: 32, maxFrames: 9).Fit(data);
        var engine = ml.Model.CreatePredictionEngine<PathRow, LatentRow>(t);
        var result = engine.Predict(new PathRow { Video = Box });
        using var x = ReadVideo(Box, 32, 32, 9);
        using var d = TinyModel.Encode(x);
        AssertClose(Flat(d.Mean), result.Latent, Tol, "mean");
        Assert.Equal(32, result.Pooled.Length);
    }

    [Fact]
    public void Dispose_FreesOwnedModel_AndKeepsSharedModel()
    {
        var ml = new MLContext(seed: 1);
        var data = Paths(ml, Box);
        var owned = ml.Transforms.WfVaeEncode("Latent", "Video", ModelDir).Fit(data);
        var view = owned.Transform(data);
        var ownedModel = owned.Model;
        owned.Dispose();
        Assert.Throws<ObjectDisposedException>(() => owned.Transform(data));
        Assert.Throws<ObjectDisposedException>(() => Column(view, "Latent"));
        Assert.Throws<ObjectDisposedException>(() => ownedModel.Encode(zeros([1, 3, 1, 8, 8])));

        var shared = ml.Transforms.WfVaeEncode("Latent", "Video", TinyModel).Fit(data);
        shared.Dispose();
        using var z = TinyModel.Encode(zeros([1, 3, 1, 8, 8]));
        Assert.Equal(16, z.Mean.shape[1]);
    }

    public sealed class VideoRow
    {
        public float[] Video { get; set; } = [];
    }

    public sealed class LatentRow
    {
        [VectorType]
        public float[] Latent { get; set; } = [];

        [ColumnName("Latent.Pooled"), VectorType]
        public float[] Pooled { get; set; } = [];
    }

    /// <summary>A one-column path view that counts how often a path value is read.</summary>
    private sealed class CountingPathView(params string[] paths) : IDataView
    {
        private readonly string[] _paths = paths;
        private int _reads;

        public int ValueReads => Volatile.Read(ref _reads);

        public DataViewSchema Schema { get; } = BuildSchema();
        public bool CanShuffle => false;
        public long? GetRowCount() => _paths.Length;
        public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) => new Cursor(this);
        public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) => [new Cursor(this)];

        private static DataViewSchema BuildSchema()
        {
            var b = new DataViewSchema.Builder();
            b.AddColumn("Video", TextDataViewType.Instance);
            return b.ToSchema();
        }

        private sealed class Cursor(CountingPathView parent) : DataViewRowCursor
        {
            private long _pos = -1;
            public override DataViewSchema Schema => parent.Schema;
            public override long Position => _pos;
            public override long Batch => 0;
            public override bool MoveNext() => ++_pos < parent.GetRowCount();
            public override ValueGetter<DataViewRowId> GetIdGetter() => (ref DataViewRowId id) => id = new DataViewRowId((ulong)_pos, 0);
            public override bool IsColumnActive(DataViewSchema.Column column) => true;

            public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
            {
                ValueGetter<ReadOnlyMemory<char>> g = (ref ReadOnlyMemory<char> v) =>
                {
                    Interlocked.Increment(ref parent._reads);
                    v = parent._paths[_pos].AsMemory();
                };
                return (ValueGetter<TValue>)(Delegate)g;
            }
        }
    }
}
