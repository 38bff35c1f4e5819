using static TorchSharp.torch;

namespace WfVae.Tests.Model;

/// <summary>Loading only the encoder or only the decoder: same outputs, less memory, clear errors for the missing half.</summary>
public sealed class ComponentsTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir();

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void Decoder_only_decodes_bit_identically_and_refuses_to_encode_or_save()
    {
        using var full = WfVaeModel.Load(TestPaths.TinyModelDir);
        using var dec = WfVaeModel.Load(TestPaths.TinyModelDir, components: WfVaeComponents.Decoder);
        Assert.Equal(WfVaeComponents.Decoder, dec.Components);
        Assert.Equal(0, dec.EncoderParameterCount);
        Assert.Equal(full.ParameterCount - full.EncoderParameterCount, dec.ParameterCount);

        using var z = randn(new long[] { 1, full.Config.LatentDim, 3, 4, 4 });
        using var a = full.Decode(z);
        using var b = dec.Decode(z);
        Assert.True(a.equal(b).all().item<bool>());
        using var c = full.Decode(z, 1);
        using var d = dec.Decode(z, 1);
        Assert.True(c.equal(d).all().item<bool>());

        using var x = rand(new long[] { 1, 3, 5, 32, 32 });
        var ex = Assert.Throws<InvalidOperationException>(() => dec.Encode(x));
        Assert.Contains("without its encoder", ex.Message);
        var save = Assert.Throws<InvalidOperationException>(() => dec.Save(Path.Combine(_dir, "partial")));
        Assert.Contains("incomplete checkpoint", save.Message);
        Assert.False(Directory.Exists(Path.Combine(_dir, "partial")));
    }

    [Fact]
    public void Encoder_only_encodes_bit_identically_and_refuses_to_decode()
    {
        using var full = WfVaeModel.Load(TestPaths.TinyModelDir);
        using var enc = WfVaeModel.Load(TestPaths.TinyModelDir, components: WfVaeComponents.Encoder);
        Assert.Equal(full.EncoderParameterCount, enc.ParameterCount);
        using var x = rand(new long[] { 1, 3, 9, 32, 32 }) * 2 - 1;
        using var a = full.Encode(x);
        using var b = enc.Encode(x);
        Assert.True(a.Mean.equal(b.Mean).all().item<bool>());
        Assert.True(a.LogVar.equal(b.LogVar).all().item<bool>());
        using var c = full.Encode(x, 4);
        using var d = enc.Encode(x, 4);
        Assert.True(c.Mean.equal(d.Mean).all().item<bool>());
        var ex = Assert.Throws<InvalidOperationException>(() => enc.Decode(a.Mean));
        Assert.Contains("without its decoder", ex.Message);
    }

    [Fact]
    public void Half_loading_checks_the_half_it_reads_and_ignores_the_other()
    {
        File.Copy(TestPaths.Fixture("config.json"), Path.Combine(_dir, "config.json"));
        using (var r = new SafetensorsReader(TestPaths.Fixture("diffusion_pytorch_model.safetensors")))
        {
            var kept = r.Entries.Keys.Where(k => k != "encoder.conv_out.conv.weight" && k != "decoder.conv_out.weight")
                .Select(k => new KeyValuePair<string, Tensor>(k, r.Read(k))).ToList();
            SafetensorsWriter.Write(Path.Combine(_dir, "diffusion_pytorch_model.safetensors"), kept);
            foreach (var kv in kept) kv.Value.Dispose();
        }
        var e1 = Assert.Throws<WfVaeCheckpointException>(() => WfVaeModel.Load(_dir, components: WfVaeComponents.Decoder));
        Assert.Contains("missing key 'decoder.conv_out.weight'", e1.Message);
        Assert.DoesNotContain("encoder.conv_out", e1.Message);
        var e2 = Assert.Throws<WfVaeCheckpointException>(() => WfVaeModel.Load(_dir, components: WfVaeComponents.Encoder));
        Assert.Contains("missing key 'encoder.conv_out.conv.weight'", e2.Message);
        Assert.DoesNotContain("decoder.conv_out", e2.Message);
    }

    [Fact]
    public void Invalid_components_value_is_rejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => WfVaeModel.Load(TestPaths.TinyModelDir, components: 0));
        Assert.Contains("Encoder, Decoder or All", ex.Message);
    }
}
