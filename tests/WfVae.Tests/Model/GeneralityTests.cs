using TorchSharp;
using static TorchSharp.torch;
using static WfVae.Tests.Model.FixtureData;

namespace WfVae.Tests.Model;

/// <summary>Other configs of the official class, non-square inputs and every chunk schedule the architecture permits.</summary>
public sealed class GeneralityTests
{
    private static WfVaeConfig Tiny => WfVaeConfig.Load(Path.Combine(TestPaths.TinyModelDir, "config.json"));

    public static TheoryData<string> Variants => new() { "latent8", "nearest", "no-attention", "connect2", "groupnorm" };

    private static WfVaeConfig Variant(string name) => name switch
    {
        "latent8" => Tiny with { LatentDim = 8, BaseChannels = 12 },
        "nearest" => Tiny with { TInterpolation = TemporalInterpolation.Nearest },
        "no-attention" => Tiny with { UseAttention = false },
        "connect2" => Tiny with { ConnectResLayerNum = 2, DecoderEnergyFlowHiddenSize = 7 },
        "groupnorm" => Tiny with { NormType = NormType.GroupNorm, BaseChannels = 32, EncoderEnergyFlowHiddenSize = 32, DecoderEnergyFlowHiddenSize = 32 },
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(Variants))]
    public void Variant_saves_loads_strictly_and_runs_non_square(string variant)
    {
        var config = Variant(variant);
        string dir = TestPaths.NewTempDir();
        try
        {
            using var model = WfVaeModel.Create(config, seed: 3);
            model.Save(dir);
            using var loaded = WfVaeModel.Load(dir);
            Assert.Equal(config.ToJson(), loaded.Config.ToJson());
            using var scope = NewDisposeScope();
            var x = rand(new long[] { 1, 3, 9, 16, 24 }, generator: new Generator(7)) * 2 - 1;
            using var a = model.Encode(x);
            using var b = loaded.Encode(x);
            Assert.Equal(new long[] { 1, config.LatentDim, 3, 2, 3 }, a.Mean.shape);
            Assert.Equal(0.0, MaxAbsDiff(a.Mean, b.Mean));
            var video = loaded.Decode(a.Mean);
            Assert.Equal(new long[] { 1, 3, 9, 16, 24 }, video.shape);
            if (config.NormType == NormType.LayerNorm)
            {
                using var chunked = loaded.Encode(x, chunkFrames: 4);
                AssertClose(a.Mean, chunked.Mean, 1e-5, $"{variant}: chunked encode");
                AssertClose(video, loaded.Decode(a.Mean, chunkLatentFrames: 1), 1e-5, $"{variant}: chunked decode");
            }
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Connect_res_layer_num_2_shifts_keys_like_the_official_v13_checkpoint()
    {
        using var m = WfVaeModel.Create(Tiny with { ConnectResLayerNum = 2 });
        var keys = m.Network.state_dict().Keys.ToHashSet();
        Assert.Equal(260, keys.Count);
        Assert.Contains("decoder.connect_l1.1.conv1.conv.weight", keys);
        Assert.Contains("decoder.connect_l1.2.weight", keys);
        Assert.Contains("decoder.connect_l2.2.bias", keys);
    }

    [Fact]
    public void Wfvae_l_config_has_the_official_parameter_count()
    {
        var config = WfVaeConfig.Load(Path.Combine(TestPaths.FixturesRoot, "wfvae-l-config.json"));
        using var m = WfVaeModel.Create(config);
        Assert.Equal(244, m.Network.state_dict().Count);
        Assert.Equal(317_081_372L, m.ParameterCount);
        Assert.Equal(84_587_040L, m.EncoderParameterCount);
    }

    [Theory]
    [InlineData(1, 4, 1)]
    [InlineData(5, 4, 1)]
    [InlineData(13, 8, 3)]
    [InlineData(21, 12, 1)]
    [InlineData(21, 4, 5)]
    [InlineData(17, 16, 4)]
    public void Any_permitted_chunk_schedule_equals_whole_video(int frames, int encChunk, int decChunk)
    {
        using var model = WfVaeModel.Load(TestPaths.TinyModelDir);
        using var scope = NewDisposeScope();
        var x = rand(new long[] { 1, 3, frames, 16, 16 }, generator: new Generator((ulong)frames)) * 2 - 1;
        using var whole = model.Encode(x);
        using var chunked = model.Encode(x, encChunk);
        AssertClose(whole.Mean, chunked.Mean, 1e-5, "mean");
        AssertClose(whole.LogVar, chunked.LogVar, 1e-5, "logvar");
        var video = model.Decode(whole.Mean);
        Assert.Equal(frames, video.shape[2]);
        AssertClose(video, model.Decode(whole.Mean, decChunk), 1e-5, "decode");
    }

    [Fact]
    public void Videos_of_different_lengths_in_turn_and_interleaved_streams_are_independent()
    {
        using var model = WfVaeModel.Load(TestPaths.TinyModelDir);
        using var scope = NewDisposeScope();
        var a = rand(new long[] { 1, 3, 17, 16, 16 }, generator: new Generator(1)) * 2 - 1;
        var b = rand(new long[] { 1, 3, 9, 16, 16 }, generator: new Generator(2)) * 2 - 1;
        using var wa = model.Encode(a);
        using var wb = model.Encode(b);
        // Long, short, long again through the chunked path: no state survives between videos.
        foreach (var (x, w) in new[] { (a, wa), (b, wb), (a, wa) })
        {
            using var c = model.Encode(x, 4);
            AssertClose(w.Mean, c.Mean, 1e-5, "sequential lengths");
        }
        // Two videos interleaved chunk by chunk with their own caches.
        using var ca = model.CreateEncoderCache();
        using var cb = model.CreateEncoderCache();
        var pa = new List<Tensor> { model.EncodeChunk(a.narrow(2, 0, 1), ca).Mean };
        var pb = new List<Tensor> { model.EncodeChunk(b.narrow(2, 0, 1), cb).Mean };
        for (int s = 1; s < 17; s += 4)
        {
            pa.Add(model.EncodeChunk(a.narrow(2, s, 4), ca).Mean);
            if (s < 9) pb.Add(model.EncodeChunk(b.narrow(2, s, 4), cb).Mean);
        }
        AssertClose(wa.Mean, cat(pa, 2), 1e-5, "interleaved a");
        AssertClose(wb.Mean, cat(pb, 2), 1e-5, "interleaved b");
    }

    [Fact]
    public void Parallel_threads_share_one_model()
    {
        using var model = WfVaeModel.Load(TestPaths.TinyModelDir);
        var x = rand(new long[] { 1, 3, 9, 16, 16 }, generator: new Generator(5)) * 2 - 1;
        using var reference = model.Encode(x);
        var results = new double[4];
        Parallel.For(0, 4, i =>
        {
            using var post = model.Encode(x, i % 2 == 0 ? 4 : null);
            results[i] = MaxAbsDiff(post.Mean, reference.Mean);
        });
        Assert.All(results, d => Assert.True(d <= 1e-5, $"thread result differs by {d}"));
        x.Dispose();
    }

    [Fact]
    public void Decode_chunks_stream_frames_and_reject_use_after_last()
    {
        using var model = WfVaeModel.Load(TestPaths.TinyModelDir);
        using var scope = NewDisposeScope();
        var z = randn(new long[] { 1, 16, 5, 2, 2 }, generator: new Generator(9));
        var whole = model.Decode(z);
        using var cache = model.CreateDecoderCache();
        var parts = new List<Tensor>();
        for (int i = 0; i < 5; i++) parts.Add(model.DecodeChunk(z.narrow(2, i, 1), cache, i == 4));
        AssertClose(whole, cat(parts, 2), 1e-5, "frame-by-frame decode");
        Assert.True(cache.Completed);
        var ex = Assert.Throws<InvalidOperationException>(() => model.DecodeChunk(z.narrow(2, 0, 1), cache, true));
        Assert.Contains("last chunk", ex.Message);
    }
}
