using TorchSharp;
using WfVae.Modules;
using static TorchSharp.torch;
using static WfVae.Tests.Model.FixtureData;

namespace WfVae.Tests.Model;

/// <summary>Number-for-number parity with the official WFVAEModel on ../shared/fixtures/wfvae-tiny.</summary>
public sealed class ParityTests : IClassFixture<TinyModelFixture>
{
    private readonly WfVaeModel _model;

    public ParityTests(TinyModelFixture f) => _model = f.Model;

    [Fact]
    public void Loads_all_244_official_keys()
    {
        using var r = new SafetensorsReader(TestPaths.Fixture("diffusion_pytorch_model.safetensors"));
        Assert.Equal(244, r.Entries.Count);
        Assert.Equal(244, _model.Network.state_dict().Count);
        Assert.Equal(638_608 - 160, _model.ParameterCount); // 160 buffer elements are not parameters
    }

    [Fact]
    public void Haar_transforms_match_official()
    {
        using var scope = NewDisposeScope();
        using var mode = inference_mode();
        var x = Load("io_t17.safetensors", "x");
        var haar3d = new HaarWavelet3D().call(x, Passes.Whole());
        AssertClose(Load("wavelet_t17.safetensors", "haar3d"), haar3d, 1e-5, "haar3d");
        var inv3d = new InverseHaarWavelet3D().call(Load("wavelet_t17.safetensors", "haar3d"), Passes.Whole());
        AssertClose(Load("wavelet_t17.safetensors", "inverse_haar3d_of_haar3d"), inv3d, 1e-5, "inverse haar3d");
        var haar2d = new HaarWavelet2D().call(x, Passes.Whole());
        AssertClose(Load("wavelet_t17.safetensors", "haar2d"), haar2d, 1e-5, "haar2d");
        var inv2d = new InverseHaarWavelet2D().call(Load("wavelet_t17.safetensors", "haar2d"), Passes.Whole());
        AssertClose(Load("wavelet_t17.safetensors", "inverse_haar2d_of_haar2d"), inv2d, 1e-5, "inverse haar2d");
    }

    [Theory]
    [InlineData("io_t17.safetensors")]
    [InlineData("io_t33.safetensors")]
    public void Whole_video_encode_decode_match_official(string file)
    {
        using var scope = NewDisposeScope();
        using var mode = inference_mode();
        var x = Load(file, "x");
        var moments = _model.EncoderNet.Forward(x, Passes.Whole(), out var el1, out var el2);
        var parts = moments.chunk(2, 1);
        AssertClose(Load(file, "posterior_mean"), parts[0], 1e-4, "posterior mean");
        AssertClose(Load(file, "posterior_logvar"), parts[1].clamp(-30, 20), 1e-4, "posterior logvar");
        AssertClose(Load(file, "enc_l1_coeffs"), el1, 1e-4, "encoder l1 coeffs");
        AssertClose(Load(file, "enc_l2_coeffs"), el2, 1e-4, "encoder l2 coeffs");

        var recon = _model.DecoderNet.Forward(Load(file, "posterior_mean"), Passes.Whole(), out var dl1, out var dl2);
        AssertClose(Load(file, "recon"), recon, 1e-4, "reconstruction");
        AssertClose(Load(file, "dec_l1_coeffs"), dl1, 1e-4, "decoder l1 coeffs");
        AssertClose(Load(file, "dec_l2_coeffs"), dl2, 1e-4, "decoder l2 coeffs");

        using var post = _model.Encode(x);
        AssertClose(Load(file, "posterior_mean"), post.Mean, 1e-4, "Encode() mean");
        AssertClose(Load(file, "posterior_logvar"), post.LogVar, 1e-4, "Encode() logvar");
        using var video = _model.Decode(Load(file, "posterior_mean"));
        AssertClose(Load(file, "recon"), video, 1e-4, "Decode()");
    }

    [Theory]
    [InlineData("io_t17.safetensors")]
    [InlineData("io_t33.safetensors")]
    public void Chunked_inference_matches_official_chunked_and_whole(string file)
    {
        using var scope = NewDisposeScope();
        var x = Load(file, "x");
        // The official schedule: encoder 4 frames per chunk, decoder 2 latent frames per chunk.
        using var chunked = _model.Encode(x, chunkFrames: 4);
        AssertClose(Load(file, "chunked_posterior_mean"), chunked.Mean, 1e-4, "chunked mean vs official chunked");
        AssertClose(Load(file, "chunked_posterior_logvar"), chunked.LogVar, 1e-4, "chunked logvar vs official chunked");
        using var whole = _model.Encode(x);
        AssertClose(whole.Mean, chunked.Mean, 1e-5, "chunked mean vs whole");
        AssertClose(whole.LogVar, chunked.LogVar, 1e-5, "chunked logvar vs whole");

        var mean = Load(file, "posterior_mean");
        using var recChunked = _model.Decode(mean, chunkLatentFrames: 2);
        AssertClose(Load(file, "chunked_recon_from_full_mean"), recChunked, 1e-4, "chunked decode vs official chunked");
        using var recWhole = _model.Decode(mean);
        AssertClose(recWhole, recChunked, 1e-5, "chunked decode vs whole");

        using var endToEnd = _model.Decode(Load(file, "chunked_posterior_mean"), chunkLatentFrames: 2);
        AssertClose(Load(file, "chunked_recon"), endToEnd, 1e-4, "end-to-end chunked recon vs official");
    }
}

/// <summary>Loads the tiny official checkpoint once per test class.</summary>
public sealed class TinyModelFixture : IDisposable
{
    public WfVaeModel Model { get; } = WfVaeModel.Load(TestPaths.TinyModelDir);
    public void Dispose() => Model.Dispose();
}
