using TorchSharp;
using static TorchSharp.torch;

namespace WfVae.Tests.Model;

/// <summary>Frame/size rules, the opt-in padding policy and chunk-size errors.</summary>
public sealed class InputRulesTests : IClassFixture<TinyModelFixture>
{
    private readonly WfVaeModel _model;
    public InputRulesTests(TinyModelFixture f) => _model = f.Model;

    [Theory]
    [InlineData(8, 16, 16, "nearest valid: 5 or 9")]
    [InlineData(10, 16, 16, "nearest valid: 9 or 13")]
    [InlineData(9, 36, 16, "height 36 is not a multiple of 8 (nearest valid: 32 or 40)")]
    [InlineData(9, 16, 20, "width 20 is not a multiple of 8 (nearest valid: 16 or 24)")]
    public void Invalid_shapes_name_the_nearest_valid_sizes(int t, int h, int w, string expected)
    {
        using var x = zeros(new long[] { 1, 3, t, h, w });
        var ex = Assert.Throws<ArgumentException>(() => _model.Encode(x));
        Assert.Contains(expected, ex.Message);
        Assert.Contains("PadAndTrim", ex.Message);
    }

    [Fact]
    public void Pad_and_trim_round_trips_odd_shapes()
    {
        using var scope = NewDisposeScope();
        var x = rand(new long[] { 1, 3, 7, 13, 19 }) * 2 - 1;
        var padded = _model.PadToValid(x);
        Assert.Equal(new long[] { 1, 3, 9, 16, 24 }, padded.shape);
        Assert.True(padded.narrow(2, 0, 7).narrow(3, 0, 13).narrow(4, 0, 19).equal(x).all().item<bool>());
        Assert.True(padded.narrow(2, 8, 1).narrow(3, 0, 13).narrow(4, 0, 19).equal(x.narrow(2, 6, 1)).all().item<bool>(), "padding repeats the last frame");
        using var post = _model.Encode(padded);
        var video = WfVaeModel.Trim(_model.Decode(post.Mean), 7, 13, 19);
        Assert.Equal(x.shape, video.shape);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    [InlineData(0)]
    public void Encode_chunk_sizes_must_be_multiples_of_4(int chunk)
    {
        using var x = zeros(new long[] { 1, 3, 9, 16, 16 });
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => _model.Encode(x, chunk));
        Assert.Contains("multiple of 4", ex.Message);
    }

    [Fact]
    public void Streaming_chunks_are_validated()
    {
        using var scope = NewDisposeScope();
        using var cache = _model.CreateEncoderCache();
        Assert.Throws<ArgumentException>(() => _model.EncodeChunk(zeros(new long[] { 1, 3, 2, 16, 16 }), cache));
        _model.EncodeChunk(zeros(new long[] { 1, 3, 1, 16, 16 }), cache);
        Assert.Contains("multiple of 4", Assert.Throws<ArgumentException>(() => _model.EncodeChunk(zeros(new long[] { 1, 3, 3, 16, 16 }), cache)).Message);
        Assert.Contains("16×16", Assert.Throws<ArgumentException>(() => _model.EncodeChunk(zeros(new long[] { 1, 3, 4, 16, 24 }), cache)).Message);
        Assert.Contains("decoding", Assert.Throws<ArgumentException>(() => _model.EncodeChunk(zeros(new long[] { 1, 3, 1, 16, 16 }), _model.CreateDecoderCache())).Message);
    }

    [Fact]
    public void Wrong_channels_and_latent_dims_are_rejected()
    {
        using var scope = NewDisposeScope();
        Assert.Contains("3 (RGB) channels", Assert.Throws<ArgumentException>(() => _model.Encode(zeros(new long[] { 1, 4, 9, 16, 16 }))).Message);
        Assert.Contains("latent_dim = 16", Assert.Throws<ArgumentException>(() => _model.Decode(zeros(new long[] { 1, 8, 3, 2, 2 }))).Message);
        Assert.Contains("5-D", Assert.Throws<ArgumentException>(() => _model.Encode(zeros(new long[] { 3, 9, 16, 16 }))).Message);
    }

    [Fact]
    public void Sampling_is_seeded()
    {
        using var scope = NewDisposeScope();
        var x = rand(new long[] { 1, 3, 5, 16, 16 }) * 2 - 1;
        using var post = _model.Encode(x);
        Assert.True(post.Sample(42).equal(post.Sample(42)).all().item<bool>());
        Assert.False(post.Sample(42).equal(post.Sample(43)).all().item<bool>());
        Assert.Equal(new long[] { 1 }, post.Kl().shape);
    }
}

/// <summary>Steady-state inference leaks no native tensors (counted process-wide, so it runs alone).</summary>
[Collection(GlobalTorchStateCollection.Name)]
public sealed class InferenceLeakTests : IClassFixture<TinyModelFixture>
{
    private readonly WfVaeModel _model;
    public InferenceLeakTests(TinyModelFixture f) => _model = f.Model;

    [Fact]
    public void Repeated_inference_does_not_grow_native_tensor_count()
    {
        using var x = rand(new long[] { 1, 3, 9, 16, 16 });
        for (int i = 0; i < 2; i++) { using var p = _model.Encode(x, 4); using var v = _model.Decode(p.Mean, 1); }
        // Finalise other tests' garbage first, so only this loop's tensors can change the count.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long before = Tensor.TotalCount;
        for (int i = 0; i < 5; i++) { using var p = _model.Encode(x, 4); using var v = _model.Decode(p.Mean, 1); }
        long after = Tensor.TotalCount;
        Assert.True(after <= before, $"live tensors grew from {before} to {after} over 5 encode+decode calls");
    }
}
