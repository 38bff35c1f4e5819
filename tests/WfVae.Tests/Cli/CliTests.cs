using TorchSharp;
using WfVae.Tests.Model;
using static TorchSharp.torch;
using static WfVae.Tests.Model.FixtureData;

namespace WfVae.Tests.Cli;

/// <summary>The wfvae CLI round-trips fixture inputs and fails cleanly on bad input.</summary>
public sealed class CliTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("wfvae-cli");
    private string P(string name) => Path.Combine(_dir, name);
    public void Dispose() => Directory.Delete(_dir, true);

    private string WriteVideo(string file, string fixture = "io_t17.safetensors")
    {
        using var x = Load(fixture, "x");
        SafetensorsWriter.Write(P(file), [new("video", x)]);
        return P(file);
    }

    private static Tensor Read(string path, string name)
    {
        using var r = new SafetensorsReader(path);
        return r.Read(name);
    }

    [Fact]
    public void Encode_then_decode_matches_the_official_reconstruction()
    {
        var input = WriteVideo("in.safetensors");
        var enc = CliRunner.Run("encode", "--model", TestPaths.TinyModelDir, "--input", input, "--output", P("z.safetensors"));
        Assert.True(enc.ExitCode == 0, enc.StdErr);
        using var scope = NewDisposeScope();
        AssertClose(Load("io_t17.safetensors", "posterior_mean"), Read(P("z.safetensors"), "latent_mean"), 1e-4, "cli latent_mean");
        AssertClose(Load("io_t17.safetensors", "posterior_logvar"), Read(P("z.safetensors"), "latent_logvar"), 1e-4, "cli latent_logvar");

        var dec = CliRunner.Run("decode", "--model", TestPaths.TinyModelDir, "--input", P("z.safetensors"), "--output", P("out.safetensors"));
        Assert.True(dec.ExitCode == 0, dec.StdErr);
        AssertClose(Load("io_t17.safetensors", "recon"), Read(P("out.safetensors"), "video"), 1e-4, "cli reconstruction");
    }

    [Fact]
    public void Chunked_round_trip_matches_the_official_chunked_pipeline_and_samples_are_seeded()
    {
        var input = WriteVideo("in33.safetensors", "io_t33.safetensors");
        var enc = CliRunner.Run("encode", "--model", TestPaths.TinyModelDir, "-i", input, "-o", P("z.safetensors"), "--chunk-frames", "4", "--sample", "--seed", "7");
        Assert.True(enc.ExitCode == 0, enc.StdErr);
        using var scope = NewDisposeScope();
        AssertClose(Load("io_t33.safetensors", "chunked_posterior_mean"), Read(P("z.safetensors"), "latent_mean"), 1e-4, "chunked latent_mean");
        Assert.Equal(new long[] { 1, 16, 9, 8, 8 }, Read(P("z.safetensors"), "latent").shape);
        var dec = CliRunner.Run("decode", "--model", TestPaths.TinyModelDir, "-i", P("z.safetensors"), "-o", P("out.safetensors"), "--chunk-frames", "2");
        Assert.True(dec.ExitCode == 0, dec.StdErr);
        AssertClose(Load("io_t33.safetensors", "chunked_recon"), Read(P("out.safetensors"), "video"), 1e-4, "chunked reconstruction");
    }

    [Fact]
    public void Info_reports_parameters_and_latent_shape()
    {
        var r = CliRunner.Run("info", "--model", TestPaths.TinyModelDir, "--frames", "33", "--height", "64", "--width", "128");
        Assert.True(r.ExitCode == 0, r.StdErr);
        Assert.Contains("parameters: 638,448", r.StdOut);
        Assert.Contains("latent [1,16,9,8,16]", r.StdOut);
    }

    [Fact]
    public void Bad_inputs_exit_non_zero_with_one_line_and_write_nothing()
    {
        var missing = CliRunner.Run("encode", "--model", TestPaths.TinyModelDir, "-i", P("nope.safetensors"), "-o", P("z.safetensors"));
        AssertCleanFailure(missing, "nope.safetensors");

        using (var x = zeros(new long[] { 1, 3, 8, 64, 64 }))
            SafetensorsWriter.Write(P("t8.safetensors"), [new("video", x)]);
        var badT = CliRunner.Run("encode", "--model", TestPaths.TinyModelDir, "-i", P("t8.safetensors"), "-o", P("z.safetensors"));
        AssertCleanFailure(badT, "nearest valid: 5 or 9");

        var badChunk = CliRunner.Run("encode", "--model", TestPaths.TinyModelDir, "-i", WriteVideo("in.safetensors"), "-o", P("z.safetensors"), "--chunk-frames", "6");
        AssertCleanFailure(badChunk, "multiple of 4");

        var noModel = CliRunner.Run("info", "--model", P("no-such-model"));
        AssertCleanFailure(noModel, "no-such-model");

        var wrongTensor = CliRunner.Run("decode", "--model", TestPaths.TinyModelDir, "-i", P("t8.safetensors"), "-o", P("v.safetensors"));
        AssertCleanFailure(wrongTensor, "has no tensor named 'latent_mean' or 'latent'");
        Assert.False(File.Exists(P("z.safetensors")));
        Assert.False(File.Exists(P("v.safetensors")));
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
    }

    private static void AssertCleanFailure(CliRunner.Result r, string expected)
    {
        Assert.NotEqual(0, r.ExitCode);
        var lines = r.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one stderr line, got: {r.StdErr}");
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains(expected, lines[0]);
    }
}
