using TorchSharp;
using WfVae.Metrics;
using static TorchSharp.torch;
using static WfVae.Tests.Model.FixtureData;

namespace WfVae.Tests.Model;

/// <summary>
/// Spatial tiling: exact where it can be (one tile = whole frame, tile interiors = the model on the crop, any temporal
/// chunk plan inside the tiles), edge tiles for sides the tile does not divide, and close to whole-frame output.
/// </summary>
public sealed class SpatialTilingTests
{
    private static WfVaeModel Tiny => MLNet.MLNetTestData.TinyModel;

    private static WfVaeModel Tiled(WfVaeModel model, int tile, int overlap) =>
        WfVaeModel.Load(model.SourceDirectory!).WithInference(model.Inference with { Tiling = SpatialTiling.Always(tile, overlap) });

    private static Tensor Video(int frames, int height, int width, ulong seed) =>
        rand(new long[] { 1, 3, frames, height, width }, generator: new Generator(seed)) * 2 - 1;

    [Fact]
    public void One_tile_covering_the_frame_equals_whole_frame_inference_exactly()
    {
        using var tiled = Tiled(Tiny, 48, 16);
        using var scope = NewDisposeScope();
        var x = Video(9, 32, 48, 1);
        using var whole = Tiny.Encode(x);
        using var oneTile = tiled.Encode(x);
        Assert.Equal(0.0, MaxAbsDiff(whole.Mean, oneTile.Mean));
        Assert.Equal(0.0, MaxAbsDiff(whole.LogVar, oneTile.LogVar));
        Assert.Equal(0.0, MaxAbsDiff(Tiny.Decode(whole.Mean), tiled.Decode(whole.Mean)));
        // Chunk by chunk, through the tile's own cache.
        using var cache = tiled.CreateEncoderCache();
        var parts = new List<Tensor> { tiled.EncodeChunk(x.narrow(2, 0, 1), cache).Mean, tiled.EncodeChunk(x.narrow(2, 1, 8), cache).Mean };
        Assert.Equal(0.0, MaxAbsDiff(Tiny.Encode(x, 8).Mean, cat(parts, 2)));
    }

    [Fact]
    public void Tile_interiors_equal_the_model_on_the_tile_crop_exactly()
    {
        // 64 px wide, 32 px tiles with 8 px overlap: columns [0, 24) belong to the first tile alone.
        using var tiled = Tiled(Tiny, 32, 8);
        using var scope = NewDisposeScope();
        var x = Video(5, 32, 64, 2);
        using var post = tiled.Encode(x);
        using var crop = Tiny.Encode(x.narrow(4, 0, 32).contiguous());
        Assert.Equal(0.0, MaxAbsDiff(crop.Mean.narrow(4, 0, 3), post.Mean.narrow(4, 0, 3)));
        Assert.True(MaxAbsDiff(crop.Mean, post.Mean.narrow(4, 0, 4)) > 0, "the overlap column is blended with the next tile");
        var z = post.Mean;
        var video = tiled.Decode(z);
        Assert.Equal(new long[] { 1, 3, 5, 32, 64 }, video.shape);
        var cropVideo = Tiny.Decode(z.narrow(4, 0, 4).contiguous());
        Assert.Equal(0.0, MaxAbsDiff(cropVideo.narrow(4, 0, 24), video.narrow(4, 0, 24)));
    }

    [Theory]
    [InlineData(4, 1)]
    [InlineData(8, 2)]
    public void Temporal_chunk_plans_inside_tiles_give_the_same_output(int encodeChunk, int decodeChunk)
    {
        using var tiled = Tiled(Tiny, 16, 8);
        using var scope = NewDisposeScope();
        var x = Video(13, 32, 40, 3);
        using var whole = tiled.Encode(x, WfVaeModel.WholeVideo);
        using var chunked = tiled.Encode(x, encodeChunk);
        AssertClose(whole.Mean, chunked.Mean, 1e-5, "tiled chunked encode vs tiled whole");
        AssertClose(whole.LogVar, chunked.LogVar, 1e-5, "tiled chunked logvar vs tiled whole");
        var video = tiled.Decode(whole.Mean, WfVaeModel.WholeVideo);
        AssertClose(video, tiled.Decode(whole.Mean, decodeChunk), 1e-5, "tiled chunked decode vs tiled whole");

        // Chunk-outer (caller's caches, tiles inside each chunk) equals tile-outer (Encode/Decode) exactly.
        using var encCache = tiled.CreateEncoderCache();
        var means = WfVaeModel.ChunkSchedule(13, encodeChunk).Select(c => tiled.EncodeChunk(x.narrow(2, c.Start, c.Length), encCache).Mean).ToList();
        Assert.Equal(0.0, MaxAbsDiff(chunked.Mean, cat(means, 2)));
        Assert.Equal(12, encCache.TileCaches!.Length); // 32×40 px in 16 px tiles with 8 px overlap: 3 × 4
        using var decCache = tiled.CreateDecoderCache();
        var schedule = WfVaeModel.ChunkSchedule(whole.Mean.shape[2], decodeChunk).ToList();
        var frames = schedule.Select((c, i) => tiled.DecodeChunk(whole.Mean.narrow(2, c.Start, c.Length), decCache, i == schedule.Count - 1)).ToList();
        Assert.Equal(0.0, MaxAbsDiff(tiled.Decode(whole.Mean, decodeChunk), cat(frames, 2)));
    }

    [Fact]
    public void Frames_the_tile_does_not_divide_get_edge_tiles_moved_back_to_the_edge()
    {
        using var tiled = Tiled(Tiny, 24, 8);
        using var scope = NewDisposeScope();
        Assert.Equal(new (long, long)[] { (0, 24), (16, 24), (24, 24) }, tiled.Inference.Tiling.Spans(48));
        Assert.Equal(new (long, long)[] { (0, 24), (16, 24) }, tiled.Inference.Tiling.Spans(40));
        var x = Video(5, 40, 48, 4);
        using var post = tiled.Encode(x, 4);
        Assert.Equal(new long[] { 1, 16, 2, 5, 6 }, post.Mean.shape);
        using var untiled = Tiny.Encode(x, 4);
        // The last column tile starts at 24 px: its columns past the previous tile's end, [40, 48) px = latent [5, 6), are its own.
        using var lastCrop = Tiny.Encode(x.narrow(3, 16, 24).narrow(4, 24, 24).contiguous(), 4);
        Assert.Equal(0.0, MaxAbsDiff(lastCrop.Mean.narrow(3, 1, 2).narrow(4, 2, 1), post.Mean.narrow(3, 3, 2).narrow(4, 5, 1)));
        var video = tiled.Decode(post.Mean, 1);
        Assert.Equal(new long[] { 1, 3, 5, 40, 48 }, video.shape);
        Assert.True(video.isfinite().all().item<bool>());
        Assert.True(MaxAbsDiff(untiled.Mean, post.Mean) < 1.0, "tiled latents stay near whole-frame latents");
    }

    [Fact]
    public void Tiled_reconstruction_is_close_to_whole_frame_on_the_shipped_model()
    {
        // The shipped model (trained, no attention) on a smooth pattern: tiling only changes what convs see near tile edges.
        string shipped = Path.Combine(TestPaths.RepoRoot, "models", "wfvae-default");
        using var model = WfVaeModel.Load(shipped);
        using var tiled = WfVaeModel.Load(shipped).WithInference(WfVaeInferenceOptions.Default with { Tiling = SpatialTiling.Always(32, 16) });
        using var scope = NewDisposeScope();
        var t = arange(5, ScalarType.Float32).view(1, 1, 5, 1, 1);
        var yy = arange(64, ScalarType.Float32).view(1, 1, 1, 64, 1);
        var xx = arange(64, ScalarType.Float32).view(1, 1, 1, 1, 64);
        var phase = tensor(new float[] { 0, 2, 4 }).view(1, 3, 1, 1, 1);
        var x = (yy * 0.11 + xx * 0.07 + t * 0.3 + phase).sin() * 0.8;
        using var a = model.Encode(x);
        using var b = tiled.Encode(x);
        var ra = model.Decode(a.Mean).clamp(-1, 1);
        var rb = tiled.Decode(b.Mean).clamp(-1, 1);
        double psnr = VideoMetrics.Psnr(ra, rb);
        Assert.True(psnr >= 35, $"tiled vs whole-frame reconstruction PSNR {psnr:F2} dB");
        Assert.True(VideoMetrics.Psnr(x, rb) >= VideoMetrics.Psnr(x, ra) - 1, "tiling costs at most 1 dB against the source");
    }

    [Fact]
    public void Invalid_tilings_are_refused_naming_the_setting()
    {
        Assert.Contains("tile size 20 px", Assert.Throws<ArgumentOutOfRangeException>(() => Tiny.CreateEncoderCache(SpatialTiling.Always(20, 4))).Message);
        Assert.Contains("overlap 24 px", Assert.Throws<ArgumentOutOfRangeException>(() => Tiny.CreateDecoderCache(SpatialTiling.Always(32, 24))).Message);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Tiny.WithInference(Tiny.Inference with { Tiling = SpatialTiling.Always(64, 12) }));
        Assert.Contains("WfVaeInferenceOptions.Tiling: overlap 12 px", e.Message);
        Assert.Equal(SpatialTiling.Off, Tiny.Inference.Tiling);
    }

    [Fact]
    public void Automatic_tiling_applies_only_above_the_pixel_budget()
    {
        var auto = SpatialTiling.Automatic(aboveFramePixels: 64 * 64, tileSize: 32, overlap: 8);
        Assert.False(auto.Applies(64, 64));
        Assert.True(auto.Applies(64, 72));
        Assert.False(SpatialTiling.Automatic(aboveFramePixels: 0, tileSize: 64, overlap: 8).Applies(64, 64)); // one tile would be the frame
        Assert.False(SpatialTiling.Off.Applies(4096, 4096));
        using var scope = NewDisposeScope();
        using var cache = Tiny.CreateEncoderCache(auto);
        Tiny.EncodeChunk(Video(1, 64, 64, 5), cache).Dispose();
        Assert.Null(cache.TileCaches);
        using var big = Tiny.CreateEncoderCache(auto);
        Tiny.EncodeChunk(Video(1, 64, 72, 5), big).Dispose();
        Assert.Equal(9, big.TileCaches!.Length);
    }

    [Fact]
    public void Mid_attention_in_query_blocks_equals_whole_frame_attention()
    {
        using var scope = NewDisposeScope();
        var g = new Generator(9);
        var (q, k, v) = (randn(new long[] { 3, 1, 50, 8 }, generator: g), randn(new long[] { 3, 1, 50, 8 }, generator: g), randn(new long[] { 3, 1, 50, 8 }, generator: g));
        var whole = WfVae.Modules.AttnBlock3DFix.ChunkedAttention(q, k, v, long.MaxValue);
        AssertClose(nn.functional.scaled_dot_product_attention(q, k, v), whole, 0, "one block is the plain call");
        AssertClose(whole, WfVae.Modules.AttnBlock3DFix.ChunkedAttention(q, k, v, 3 * 50 * 7), 1e-6, "blocks of 7 query rows");
        // Through the model: blocks of one query row per frame.
        using var blocked = WfVaeModel.Load(TestPaths.TinyModelDir).WithInference(WfVaeInferenceOptions.Default with { AttentionScoreElements = 1 });
        var x = Video(5, 24, 32, 6);
        using var a = Tiny.Encode(x);
        using var b = blocked.Encode(x);
        AssertClose(a.Mean, b.Mean, 1e-5, "encode with blocked attention");
        AssertClose(Tiny.Decode(a.Mean), blocked.Decode(a.Mean), 1e-5, "decode with blocked attention");
    }

    [Fact]
    public void Blend_weights_sum_to_one_and_a_lone_tile_weighs_exactly_one()
    {
        Assert.Equal([1.0, 1.0, 1.0], TileAxis.Weights([(0, 3)], 1, 1)[0]);
        var spans = TileAxis.Spans(56, 24, 8);
        foreach (var (num, den) in new[] { (1L, 1L), (8L, 1L) })
        {
            var w = TileAxis.Weights(spans, num, den);
            var sum = new double[56 * num];
            for (int i = 0; i < spans.Count; i++)
                for (int p = 0; p < w[i].Length; p++) sum[spans[i].Start * num + p] += w[i][p];
            Assert.All(sum, s => Assert.Equal(1.0, s, 12));
            Assert.All(w.SelectMany(x => x), v => Assert.InRange(v, 0.0, 1.0));
        }
    }
}
