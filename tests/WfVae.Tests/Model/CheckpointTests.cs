using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace WfVae.Tests.Model;

/// <summary>Strict checkpoint loading and config validation.</summary>
public sealed class CheckpointTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir();

    public void Dispose() => Directory.Delete(_dir, true);

    private string CopyConfig(string? json = null)
    {
        File.WriteAllText(Path.Combine(_dir, "config.json"), json ?? File.ReadAllText(TestPaths.Fixture("config.json")));
        return _dir;
    }

    private void WriteWeights(Func<Dictionary<string, Tensor>, IEnumerable<KeyValuePair<string, Tensor>>> edit)
    {
        using var r = new SafetensorsReader(TestPaths.Fixture("diffusion_pytorch_model.safetensors"));
        var all = r.Entries.Keys.ToDictionary(k => k, r.Read);
        SafetensorsWriter.Write(Path.Combine(_dir, "diffusion_pytorch_model.safetensors"), edit(all));
        foreach (var t in all.Values) t.Dispose();
    }

    [Fact]
    public void Missing_key_is_named_with_its_shape()
    {
        CopyConfig();
        WriteWeights(d => d.Where(kv => kv.Key != "encoder.mid.1.q.conv.weight"));
        var ex = Assert.Throws<WfVaeCheckpointException>(() => WfVaeModel.Load(_dir));
        Assert.Contains("missing key 'encoder.mid.1.q.conv.weight' (expected shape [32,32,1,1,1])", ex.Message);
    }

    [Fact]
    public void Unexpected_and_wrongly_shaped_keys_name_both_shapes()
    {
        CopyConfig();
        WriteWeights(d => d.Select(kv => kv.Key == "decoder.conv_out.bias" ? new(kv.Key, zeros(23)) : kv)
            .Append(new("decoder.extra.weight", zeros(2, 2))));
        var ex = Assert.Throws<WfVaeCheckpointException>(() => WfVaeModel.Load(_dir));
        Assert.Contains("'decoder.conv_out.bias': checkpoint has shape [23] but the config expects [24]", ex.Message);
        Assert.Contains("unexpected key 'decoder.extra.weight' with shape [2,2]", ex.Message);
    }

    [Fact]
    public void Haar_constants_may_be_absent_like_in_ema_checkpoints()
    {
        CopyConfig();
        WriteWeights(d => d.Where(kv => !kv.Key.Contains("wavelet_transform")));
        using var m = WfVaeModel.Load(_dir);
        using var reference = WfVaeModel.Load(TestPaths.TinyModelDir);
        using var x = rand(new long[] { 1, 3, 5, 16, 16 });
        using var a = m.Encode(x);
        using var b = reference.Encode(x);
        Assert.True(a.Mean.equal(b.Mean).all().item<bool>());
    }

    [Fact]
    public void Fp16_storage_loads_with_conversion()
    {
        CopyConfig();
        WriteWeights(d => d.Select(kv => new KeyValuePair<string, Tensor>(kv.Key, kv.Value.to(ScalarType.Float16))));
        using var m = WfVaeModel.Load(_dir);
        Assert.Equal(ScalarType.Float32, m.Network.state_dict()["decoder.conv_out.weight"].dtype);
    }

    [Fact]
    public void Truncated_and_malformed_files_are_clear_errors()
    {
        CopyConfig();
        var path = Path.Combine(_dir, "diffusion_pytorch_model.safetensors");
        var bytes = File.ReadAllBytes(TestPaths.Fixture("diffusion_pytorch_model.safetensors"));
        File.WriteAllBytes(path, bytes[..(bytes.Length - 1000)]);
        Assert.Contains("truncated", Assert.Throws<SafetensorsException>(() => WfVaeModel.Load(_dir)).Message);
        File.WriteAllBytes(path, bytes[..5]);
        Assert.Contains("not a safetensors file", Assert.Throws<SafetensorsException>(() => WfVaeModel.Load(_dir)).Message);
        File.WriteAllBytes(path, [.. BitConverter.GetBytes(10L), .. Encoding.ASCII.GetBytes("{not json}"), 0, 0]);
        Assert.Contains("not valid JSON", Assert.Throws<SafetensorsException>(() => WfVaeModel.Load(_dir)).Message);
    }

    [Fact]
    public void Missing_folder_and_files_are_named()
    {
        Assert.Contains("not found", Assert.Throws<DirectoryNotFoundException>(() => WfVaeModel.Load(Path.Combine(_dir, "nope"))).Message);
        Assert.Contains("has no config.json", Assert.Throws<FileNotFoundException>(() => WfVaeModel.Load(_dir)).Message);
    }

    [Theory]
    [InlineData("\"norm_type\": \"batchnorm\"", "norm_type 'batchnorm' is not supported")]
    [InlineData("\"t_interpolation\": \"cubic\"", "t_interpolation 'cubic' is not supported")]
    [InlineData("\"l1_dowmsample_block\": \"Spatial2xTime2x3DDownsample\"", "l1_dowmsample_block 'Spatial2xTime2x3DDownsample' is not supported")]
    [InlineData("\"latent_dim\": \"16\"", "'latent_dim' must be an integer")]
    [InlineData("\"latent_dims\": 16", "unknown config field 'latent_dims'")]
    [InlineData("\"_class_name\": \"WFVAE2Model\"", "WFVAE2Model")]
    public void Config_errors_name_the_field(string replacement, string expected)
    {
        var json = File.ReadAllText(TestPaths.Fixture("config.json"));
        string key = replacement.Split(':')[0];
        var lines = json.Split('\n').Select(l => l.TrimStart().StartsWith(key, StringComparison.Ordinal) ? "  " + replacement + (l.TrimEnd().EndsWith(',') ? "," : "") : l).ToList();
        if (!lines.Any(l => l.Contains(replacement))) lines.Insert(1, "  " + replacement + ",");
        var ex = Assert.Throws<WfVaeConfigException>(() => WfVaeConfig.Parse(string.Join('\n', lines)));
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void Groupnorm_widths_must_divide_by_32()
    {
        var c = WfVaeConfig.Load(TestPaths.Fixture("config.json")) with { NormType = NormType.GroupNorm };
        Assert.Contains("multiple of 32", Assert.Throws<WfVaeConfigException>(() => c.Validate()).Message);
    }
}
