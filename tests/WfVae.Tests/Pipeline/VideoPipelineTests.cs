using WfVae.Metrics;
using WfVae.Pipeline;
using WfVae.Tests.Video;
using static TorchSharp.torch;
using static WfVae.Tests.Model.FixtureData;

namespace WfVae.Tests.Pipeline;

/// <summary>The streaming pipeline equals whole-video inference: same latents, same frames, same metrics.</summary>
public sealed class VideoPipelineTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("wfvae-pipeline");
    private readonly string _clip;
    private static WfVaeModel Model => MLNet.MLNetTestData.TinyModel;

    public VideoPipelineTests()
    {
        // 30×22 (not multiples of 8) and 11 frames (not 1 + 4k): padding on every axis, trimmed afterwards.
        _clip = Path.Combine(_dir, "testsrc.mkv");
        Ffmpeg.Generate(_clip, ["-f", "lavfi", "-i", "testsrc2=s=30x22:r=8", "-frames:v", "11", "-c:v", "libx264rgb", "-crf", "0", "-pix_fmt", "rgb24"]);
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private Tensor SourceVideo()
    {
        var frames = Ffmpeg.DecodeRgb(_clip, 30, 22);
        return FrameTensors.FromRgb24(frames, 22, 30);
    }

    [Theory]
    [InlineData(4, 1)]
    [InlineData(8, 2)]
    [InlineData(0, 3)] // 0 = the whole video in one chunk after frame 0
    public void Encode_and_reconstruct_equal_whole_video_inference(int encodeChunk, int decodeChunk)
    {
        using var scope = NewDisposeScope();
        var video = SourceVideo();
        var padded = Model.PadToValid(video);
        using var whole = Model.Encode(padded, WfVaeModel.WholeVideo);
        var expected = WfVaeModel.Trim(Model.Decode(whole.Mean, WfVaeModel.WholeVideo), 11, 22, 30).clamp(-1, 1);

        var pipeline = new VideoPipeline(Model, new StreamingOptions { EncodeChunking = Chunking.FromCount(encodeChunk), DecodeChunkLatentFrames = decodeChunk });
        using (var encoded = pipeline.Encode(new VideoSource { Path = _clip }))
        {
            Assert.Equal(11, encoded.SourceFrames);
            Assert.Equal((22, 30), (encoded.SourceHeight, encoded.SourceWidth));
            AssertClose(whole.Mean, encoded.Posterior.Mean, 1e-5, "streamed encode");
        }

        var reports = new List<StreamingProgress>();
        string output = Path.Combine(_dir, "nested", "folder", $"recon-{encodeChunk}.mp4"); // folders are created
        var result = pipeline.Reconstruct(new VideoSource { Path = _clip }, output, progress: new Progress(reports), stripPath: Path.Combine(_dir, "strip.png"));
        Assert.Equal(11, result.Frames);
        Assert.True(File.Exists(output) && File.Exists(Path.Combine(_dir, "strip.png")));
        Assert.Equal(11, reports[^1].FramesDone);
        Assert.True(reports.Select(r => r.FramesDone).SequenceEqual(reports.Select(r => r.FramesDone).Order()), "progress went backwards");
        var psnr = VideoMetrics.PsnrPerFrame(video, expected);
        var ssim = VideoMetrics.SsimPerFrame(video, expected);
        for (int i = 0; i < 11; i++)
        {
            Assert.Equal(psnr[i], result.PsnrPerFrame[i], 1e-3);
            Assert.Equal(ssim[i], result.SsimPerFrame![i], 1e-5);
        }
        var written = Ffmpeg.DecodeRgb(output, 30, 22);
        Assert.Equal(11, written.Count);
    }

    [Fact]
    public void Strict_policy_names_the_file_and_the_valid_frame_counts()
    {
        var pipeline = new VideoPipeline(Model);
        var e = Assert.Throws<ArgumentException>(() => pipeline.Encode(new VideoSource { Path = _clip, Width = 32, Height = 24, Policy = ShapePolicy.Strict }));
        Assert.Contains("testsrc.mkv", e.Message);
        Assert.Contains("11 frames, which is not 1 + 4k (nearest valid: 9 or 13)", e.Message);
    }

    [Fact]
    public void Cancelled_reconstruct_leaves_no_output()
    {
        using var cts = new CancellationTokenSource();
        string output = Path.Combine(_dir, "cancelled.mp4");
        var pipeline = new VideoPipeline(Model, new StreamingOptions { EncodeChunking = 4 });
        var progress = new Progress(new List<StreamingProgress>(), _ => cts.Cancel());
        Assert.ThrowsAny<OperationCanceledException>(() => pipeline.Reconstruct(new VideoSource { Path = _clip }, output, progress: progress, ct: cts.Token));
        Assert.False(File.Exists(output));
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp*"));
    }

    [Fact]
    public void Oversized_frames_are_refused_before_any_work_naming_the_limit()
    {
        var pipeline = new VideoPipeline(Model, new StreamingOptions { MaxFramePixels = 24 * 24 });
        string output = Path.Combine(_dir, "big.mp4");
        var e = Assert.Throws<ArgumentException>(() => pipeline.Reconstruct(new VideoSource { Path = _clip }, output));
        Assert.Contains("30x22", e.Message);
        Assert.Contains("StreamingOptions.MaxFramePixels", e.Message);
        Assert.False(File.Exists(output));
        Assert.Contains("MaxFramePixels", Assert.Throws<ArgumentException>(() => pipeline.Encode(new VideoSource { Path = _clip })).Message);
        using var fits = pipeline.Encode(new VideoSource { Path = _clip, Width = 16, Height = 16 });
        Assert.Equal(16 / 8, fits.Posterior.Mean.shape[3]);
    }

    [Fact]
    public void Tiled_streaming_equals_tiled_whole_video_inference_and_lifts_the_frame_size_limit()
    {
        using var scope = NewDisposeScope();
        var tiling = SpatialTiling.Always(16, 8);
        using var tiled = WfVaeModel.Load(TestPaths.TinyModelDir).WithInference(WfVaeInferenceOptions.Default with { Tiling = tiling });
        var video = SourceVideo();
        using var whole = tiled.Encode(Model.PadToValid(video), WfVaeModel.WholeVideo);
        var expected = WfVaeModel.Trim(tiled.Decode(whole.Mean, WfVaeModel.WholeVideo), 11, 22, 30).clamp(-1, 1);

        // The untiled model with the pipeline's own tiling (carried by each video's caches); 30x22 is above MaxFramePixels.
        var pipeline = new VideoPipeline(Model, new StreamingOptions { Tiling = tiling, EncodeChunking = 4, DecodeChunkLatentFrames = 1, MaxFramePixels = 24 * 24 });
        using (var encoded = pipeline.Encode(new VideoSource { Path = _clip }))
            AssertClose(whole.Mean, encoded.Posterior.Mean, 1e-5, "tiled streamed encode");
        var result = pipeline.Reconstruct(new VideoSource { Path = _clip }, Path.Combine(_dir, "tiled.mp4"));
        var psnr = VideoMetrics.PsnrPerFrame(video, expected);
        for (int i = 0; i < 11; i++) Assert.Equal(psnr[i], result.PsnrPerFrame[i], 1e-3);
        Assert.Equal(Model.Inference.Tiling, SpatialTiling.Off);

        var limited = new VideoPipeline(Model, new StreamingOptions { Tiling = tiling, MaxTiledFramePixels = 600 });
        var e = Assert.Throws<ArgumentException>(() => limited.Encode(new VideoSource { Path = _clip }));
        Assert.Contains("StreamingOptions.MaxTiledFramePixels", e.Message);
        Assert.Contains("StreamingOptions.Tiling: tile size 12 px", Assert.Throws<ArgumentOutOfRangeException>(() => new VideoPipeline(Model, new StreamingOptions { Tiling = SpatialTiling.Always(12, 4) })).Message);
    }

    [Fact]
    public void Bad_outputs_and_frame_rates_are_refused_before_any_work()
    {
        var pipeline = new VideoPipeline(Model);
        string output = Path.Combine(_dir, "out", "recon.mp4"), folder = Path.Combine(_dir, "a folder");
        Directory.CreateDirectory(folder);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Assert.Contains("is a folder", Assert.Throws<IOException>(() => pipeline.Reconstruct(new VideoSource { Path = _clip }, output, stripPath: folder)).Message);
        Assert.Contains("frame rate", Assert.Throws<ArgumentOutOfRangeException>(() => pipeline.Reconstruct(new VideoSource { Path = _clip }, output, fps: 0)).Message);
        using var z = zeros(new long[] { 1, 16, 2, 2, 2 });
        Assert.Contains("frame rate", Assert.Throws<ArgumentOutOfRangeException>(() => pipeline.DecodeToMp4(z, output, double.NaN)).Message);
        Assert.False(File.Exists(output));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"the checks took {clock.Elapsed}");
    }

    /// <summary>Synchronous progress sink (System.Progress posts to the thread pool).</summary>
    private sealed class Progress(List<StreamingProgress> sink, Action<StreamingProgress>? then = null) : IProgress<StreamingProgress>
    {
        public void Report(StreamingProgress value)
        {
            sink.Add(value);
            then?.Invoke(value);
        }
    }
}
