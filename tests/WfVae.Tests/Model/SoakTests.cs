using Microsoft.ML;
using TorchSharp;
using WfVae.MLNet;
using WfVae.Tests.MLNet;

namespace WfVae.Tests.Model;

/// <summary>
/// Repeated model loads and rows through both ML.NET stages leave no live tensors behind (counted process-wide, so it runs
/// alone). The full-scale figures (600 loads, 1,000 rows, RSS) come from scripts/soak.cs.
/// </summary>
[Collection(GlobalTorchStateCollection.Name)]
public sealed class SoakTests
{
    private static long LiveTensors()
    {
        // Finalise other tests' garbage first, so only the measured loop can change the count.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return torch.Tensor.TotalCount;
    }

    [Fact]
    public void Model_load_and_dispose_leaves_no_live_tensors()
    {
        WfVaeModel.Load(TestPaths.TinyModelDir).Dispose();
        long before = LiveTensors();
        for (int i = 0; i < 30; i++)
            WfVaeModel.Load(TestPaths.TinyModelDir).Dispose();
        WfVaeModel.Load(TestPaths.TinyModelDir, components: WfVaeComponents.Decoder).Dispose();
        WfVaeModel.Create(WfVaeConfig.Load(Path.Combine(TestPaths.TinyModelDir, WfVaeModel.ConfigFileName)), seed: 3).Dispose();
        long after = LiveTensors();
        Assert.True(after == before, $"live tensors went from {before} to {after} over 32 model loads/creations (each load left {(after - before) / 32.0:F1})");
    }

    [Fact]
    public void Rows_through_both_stages_leave_no_live_tensors()
    {
        var ml = new MLContext(seed: 1);
        var rng = new Random(5);
        var videos = Enumerable.Range(0, 50).Select(_ => new EncodeTests.VideoRow { Video = [.. Enumerable.Range(0, 3 * 5 * 16 * 16).Select(_ => (float)(rng.NextDouble() * 2 - 1))] }).ToList();
        var data = ml.Data.LoadFromEnumerable(videos);
        var encode = new WfVaeEncoderOptions { OutputColumnName = "Latent", InputColumnName = "Video", ModelDirectory = TestPaths.TinyModelDir, Height = 16, Width = 16, OutputPooledFeatures = false };
        var decode = new WfVaeDecoderOptions { OutputColumnName = "Decoded", InputColumnName = "Latent", ModelDirectory = TestPaths.TinyModelDir, LatentHeight = 2, LatentWidth = 2 };
        void RunRows(int rows)
        {
            var subset = ml.Data.TakeRows(data, rows);
            using var e = ml.Transforms.WfVaeEncode(encode).Fit(subset);
            var encoded = e.Transform(subset);
            using var d = ml.Transforms.WfVaeDecode(decode).Fit(encoded);
            Assert.Equal(rows, MLNetTestData.Column(d.Transform(encoded), "Decoded").Count);
        }
        RunRows(2);
        long before = LiveTensors();
        RunRows(50);
        long after = LiveTensors();
        Assert.True(after == before, $"live tensors went from {before} to {after} over 50 rows through WfVaeEncode and WfVaeDecode (2 fits each)");
    }
}
