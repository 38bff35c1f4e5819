using System.Diagnostics;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace WfVae.Tests.Model;

/// <summary>Careless or hostile inputs fail fast with one line: no hang on a config, no silent NaN in or out.</summary>
public sealed class HostileInputTests : IClassFixture<TinyModelFixture>, IDisposable
{
    private readonly WfVaeModel _model;
    private readonly string _dir = TestPaths.NewTempDir("wfvae-hostile");

    public HostileInputTests(TinyModelFixture f) => _model = f.Model;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Theory]
    [InlineData("connect_res_layer_num", 1000000000, "connect_res_layer_num 1000000000 is above the largest supported value, 64")]
    [InlineData("encoder_num_resblocks", 1000000, "encoder_num_resblocks 1000000 is above the largest supported value, 64")]
    [InlineData("base_channels", 1000000000, "base_channels 1000000000 is above the largest supported value, 4096")]
    [InlineData("latent_dim", 1000000000, "latent_dim 1000000000 is above the largest supported value, 1024")]
    [InlineData("base_channels", 4096, "parameters, above the")]
    public void Oversized_configs_fail_at_once_naming_the_field(string field, int value, string message)
    {
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(TestPaths.TinyModelDir, WfVaeModel.ConfigFileName)))!.AsObject();
        json[field] = value;
        if (field == "base_channels" && value == 4096) json["norm_type"] = "layernorm";
        string path = Path.Combine(_dir, "config.json");
        File.WriteAllText(path, json.ToJsonString());
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<WfVaeConfigException>(() => WfVaeConfig.Load(path).Validate());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Non_finite_input_frames_are_refused_naming_the_frame()
    {
        using var x = zeros(new long[] { 1, 3, 9, 16, 16 });
        x[0, 1, 6, 3, 3] = tensor(float.NaN);
        var e = Assert.Throws<ArithmeticException>(() => _model.Encode(x));
        Assert.Contains("from frame 6", e.Message);
        using var cache = _model.CreateEncoderCache();
        x[0, 1, 6, 3, 3] = tensor(float.PositiveInfinity);
        Assert.Contains("NaN or Inf", Assert.Throws<ArithmeticException>(() => _model.EncodeChunk(x.narrow(2, 0, 1).clone().fill_(float.NegativeInfinity), cache)).Message);
    }

    [Fact]
    public void Inputs_that_overflow_inside_the_network_are_refused_not_returned_as_NaN()
    {
        using var x = full(new long[] { 1, 3, 9, 16, 16 }, 1e30f);
        var e = Assert.Throws<ArithmeticException>(() => _model.Encode(x));
        Assert.Contains("latent", e.Message);
        Assert.Contains("far outside [-1, 1]", e.Message);
    }

    [Fact]
    public void A_non_finite_latent_is_refused_before_decoding()
    {
        using var z = zeros(new long[] { 1, 16, 3, 2, 2 });
        z[0, 0, 2, 0, 0] = tensor(float.NaN);
        Assert.Contains("from frame 2", Assert.Throws<ArithmeticException>(() => _model.Decode(z)).Message);
    }

    [Fact]
    public void A_NaN_weight_in_a_checkpoint_is_refused_naming_the_tensor()
    {
        File.Copy(Path.Combine(TestPaths.TinyModelDir, WfVaeModel.ConfigFileName), Path.Combine(_dir, WfVaeModel.ConfigFileName));
        using (var r = new SafetensorsReader(Path.Combine(TestPaths.TinyModelDir, WfVaeModel.WeightsFileName)))
        {
            var all = r.Entries.Keys.ToDictionary(k => k, r.Read);
            all["decoder.conv_out.bias"][0] = tensor(float.NaN);
            SafetensorsWriter.Write(Path.Combine(_dir, WfVaeModel.WeightsFileName), all);
            foreach (var t in all.Values) t.Dispose();
        }
        var e = Assert.Throws<WfVaeCheckpointException>(() => WfVaeModel.Load(_dir));
        Assert.Contains("'decoder.conv_out.bias' holds NaN or Inf", e.Message);
    }
}

