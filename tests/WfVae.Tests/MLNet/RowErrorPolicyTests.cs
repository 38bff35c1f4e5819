using Microsoft.ML;
using Microsoft.ML.Data;
using WfVae.MLNet;
using static WfVae.Tests.MLNet.MLNetTestData;

namespace WfVae.Tests.MLNet;

/// <summary>
/// RowErrors: Fail (default) stops at the first bad row; MissingValue gives that row NaN (known size) or empty (variable size)
/// outputs and the error text in the error column, in memory, through parallel cursors and after save/load.
/// </summary>
public sealed class RowErrorPolicyTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("wfvae-row-errors");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private const int LatentLength = 16 * 3 * 4 * 4;

    private static WfVaeEncoderOptions PathOptions(WfVaeRowErrorPolicy policy, string? errorColumn = null)
    {
        var o = new WfVaeEncoderOptions
        {
            OutputColumnName = "Latent",
            InputColumnName = "Video",
            ModelDirectory = ModelDir,
            Width = 32,
            Height = 32,
            MaxFrames = 9,
            RowErrors = policy,
        };
        return errorColumn is null ? o : o with { ErrorColumnName = errorColumn };
    }

    private static string[] Texts(IDataView view, string column) =>
        [.. view.GetColumn<ReadOnlyMemory<char>>(column).Select(m => m.ToString())];

    [Fact]
    public void Fail_stops_at_the_first_bad_row_naming_row_and_file()
    {
        var ml = new MLContext(seed: 1);
        var data = Paths(ml, Box, Missing, NotAVideo, Mandelbrot);
        using var t = ml.Transforms.WfVaeEncode(PathOptions(WfVaeRowErrorPolicy.Fail)).Fit(data);
        Assert.Null(t.GetOutputSchema(data.Schema).GetColumnOrNull("Latent.Error"));
        var e = Assert.Throws<WfVaeRowException>(() => Column(t.Transform(data), "Latent"));
        Assert.Contains($"row 1 of column 'Video', file '{Missing}'", e.Message);
    }

    [Fact]
    public void MissingValue_gives_NaN_and_the_error_for_missing_and_corrupt_files_and_keeps_good_rows()
    {
        var ml = new MLContext(seed: 1);
        var data = Paths(ml, Box, Missing, NotAVideo, Mandelbrot);
        // Fitted behind another stage, so ML.NET also checks the estimator's SchemaShape (with the error column) on the way.
        using var t = ml.Transforms.CopyColumns("Copy", "Video").Append(ml.Transforms.WfVaeEncode(PathOptions(WfVaeRowErrorPolicy.MissingValue))).Fit(data).LastTransformer;
        var view = t.Transform(data);
        Assert.Equal(TextDataViewType.Instance, view.Schema["Latent.Error"].Type);
        var cols = Columns(view, "Latent", "Latent.Pooled");
        string[] errors = Texts(view, "Latent.Error");

        using var good = ml.Transforms.WfVaeEncode(PathOptions(WfVaeRowErrorPolicy.Fail)).Fit(data);
        var expected = Columns(good.Transform(Paths(ml, Box, Mandelbrot)), "Latent", "Latent.Pooled");
        Assert.Equal(expected[0][0], cols[0][0]);
        Assert.Equal(expected[0][1], cols[0][3]);
        Assert.Equal(expected[1][1], cols[1][3]);
        foreach (int bad in new[] { 1, 2 })
        {
            Assert.Equal(LatentLength, cols[0][bad].Length);
            Assert.All(cols[0][bad], v => Assert.True(float.IsNaN(v)));
            Assert.All(cols[1][bad], v => Assert.True(float.IsNaN(v)));
        }
        Assert.Equal("", errors[0]);
        Assert.Equal("", errors[3]);
        Assert.Contains($"WfVaeEncode failed on row 1 of column 'Video', file '{Missing}'", errors[1]);
        Assert.Contains("file does not exist", errors[1]);
        Assert.Contains($"row 2 of column 'Video', file '{NotAVideo}'", errors[2]);
        Assert.Contains("ffprobe could not read it", errors[2]);

        // Skipping bad rows is ML.NET's own filter on the missing values; a downstream Fit then sees only good rows.
        var kept = ml.Data.FilterRowsByMissingValues(view, "Latent");
        var normalizer = ml.Transforms.NormalizeMinMax("Latent.Pooled").Fit(kept);
        Assert.Equal(2, Columns(normalizer.Transform(kept), "Latent.Pooled")[0].Count);
    }

    [Fact]
    public void MissingValue_is_the_same_through_parallel_cursors()
    {
        var ml = new MLContext(seed: 1);
        var data = Paths(ml, Missing, Box, NotAVideo, Box, Missing, Mandelbrot);
        using var t = ml.Transforms.WfVaeEncode(PathOptions(WfVaeRowErrorPolicy.MissingValue, errorColumn: "Why")).Fit(data);
        var view = t.Transform(data);
        var runs = new string[4][];
        Parallel.For(0, runs.Length, i => runs[i] = Texts(view, "Why"));
        foreach (var r in runs) Assert.Equal(runs[0], r);
        Assert.Equal([true, false, true, false, true, false], runs[0].Select(s => s.Length > 0).ToArray());
        Assert.Contains("row 4 of column 'Video'", runs[0][4]);
    }

    [Fact]
    public void MissingValue_survives_save_and_load()
    {
        var ml = new MLContext(seed: 1);
        var data = Paths(ml, Box, Missing, NotAVideo);
        using var t = ml.Transforms.WfVaeEncode(PathOptions(WfVaeRowErrorPolicy.MissingValue, errorColumn: "Problem")).Fit(data);
        var before = Columns(t.Transform(data), "Latent", "Latent.Pooled");
        string zip = Path.Combine(_dir, "encode.zip");
        ml.Model.Save(t, data.Schema, zip);
        var loaded = ml.Model.Load(zip, out _);
        var view = loaded.Transform(data);
        Assert.Equal(["Video", "Latent", "Latent.Pooled", "Problem"], view.Schema.Select(c => c.Name).ToArray());
        var after = Columns(view, "Latent", "Latent.Pooled");
        Assert.Equal(before[0][0], after[0][0]);
        Assert.Equal(before[1][0], after[1][0]);
        Assert.All(after[0][1].Concat(after[0][2]).Concat(after[1][2]), v => Assert.True(float.IsNaN(v)));
        Assert.Equal(LatentLength, after[0][2].Length);
        string[] errors = Texts(view, "Problem");
        Assert.Equal("", errors[0]);
        Assert.Contains($"column 'Video', file '{Missing}'", errors[1]);
        Assert.Contains($"column 'Video', file '{NotAVideo}'", errors[2]);
    }

    [Fact]
    public void Decode_records_non_finite_and_misshaped_latents_and_survives_save_and_load()
    {
        var ml = new MLContext(seed: 1);
        var good = new float[16 * 2 * 2];
        for (int i = 0; i < good.Length; i++) good[i] = MathF.Sin(i) * 0.5f;
        var nan = (float[])good.Clone();
        nan[7] = float.NaN;
        var data = ml.Data.LoadFromEnumerable(new[] { good, nan, new float[50] }.Select(l => new EncodeTests.LatentRow { Latent = l, Pooled = [0f] }));
        var options = new WfVaeDecoderOptions
        {
            OutputColumnName = "Video",
            InputColumnName = "Latent",
            ModelDirectory = ModelDir,
            LatentHeight = 2,
            LatentWidth = 2,
        };
        using var failing = ml.Transforms.WfVaeDecode(options).Fit(data);
        Assert.Contains("WfVaeDecode failed on row 1 of column 'Latent'", Assert.Throws<WfVaeRowException>(() => Column(failing.Transform(data), "Video")).Message);

        using var t = ml.Transforms.WfVaeDecode(options with { RowErrors = WfVaeRowErrorPolicy.MissingValue }).Fit(data);
        string zip = Path.Combine(_dir, "decode.zip");
        ml.Model.Save(t, data.Schema, zip);
        foreach (var view in new[] { t.Transform(data), ml.Model.Load(zip, out _).Transform(data) })
        {
            var video = Column(view, "Video");
            string[] errors = Texts(view, "Video.Error");
            Assert.Equal(3 * 1 * 16 * 16, video[0].Length);
            Assert.All(video[0], v => Assert.True(float.IsFinite(v)));
            Assert.Empty(video[1]);
            Assert.Empty(video[2]);
            Assert.Equal("", errors[0]);
            Assert.Contains("of column 'Latent'", errors[1]);
            Assert.Contains("non-finite", errors[1]);
            Assert.Contains("50", errors[2]);
        }
    }

    [Fact]
    public void Error_column_name_is_checked()
    {
        var ml = new MLContext(seed: 1);
        var o = PathOptions(WfVaeRowErrorPolicy.MissingValue, errorColumn: "Latent.Pooled");
        Assert.Contains("ErrorColumnName 'Latent.Pooled' is also the name of an output column", Assert.Throws<ArgumentException>(() => ml.Transforms.WfVaeEncode(o)).Message);
        Assert.Throws<ArgumentException>(() => ml.Transforms.WfVaeEncode(o with { ErrorColumnName = " " }));
        Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.WfVaeEncode(o with { RowErrors = (WfVaeRowErrorPolicy)7 }));
    }
}
