using Microsoft.ML;
using WfVae.MLNet;
using static WfVae.Tests.MLNet.MLNetTestData;

namespace WfVae.Tests.MLNet;

/// <summary>The stages report through ML.NET's own log: an MLContext's Log event sees the model load and every row's time.</summary>
public sealed class StageLogTests
{
    [Fact]
    public void MLContext_Log_receives_model_loaded_and_per_row_messages_of_both_stages()
    {
        var ml = new MLContext(seed: 1);
        var messages = new List<string>();
        ml.Log += (_, e) => { lock (messages) messages.Add(e.Message); };
        var data = Paths(ml, Testsrc, Mandelbrot);
        using var encode = ml.Transforms.WfVaeEncode(new WfVaeEncoderOptions
        {
            OutputColumnName = "Latent", InputColumnName = "Video", ModelDirectory = ModelDir, Width = 32, Height = 32, MaxFrames = 9, Log = ml,
        }).Fit(data);
        var encoded = encode.Transform(data);
        Assert.Equal(2, Columns(encoded, "Latent")[0].Count);

        List<string> Of(string stage) { lock (messages) return messages.Where(m => m.Contains(stage, StringComparison.Ordinal)).ToList(); }
        var enc = Of("WfVaeEncode: ");
        Assert.Contains(enc, m => m.Contains("model loaded from", StringComparison.Ordinal) && m.Contains("parameters", StringComparison.Ordinal));
        var rows = enc.Where(m => m.Contains("encoded a row", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, rows.Count);
        Assert.Contains(Path.GetFileName(Testsrc), rows[0]);
        Assert.Contains(Path.GetFileName(Mandelbrot), rows[1]);
        Assert.Contains("2 row(s) encoded so far", rows[1]);
        Assert.Matches(@"in \d+\.\d{3} s; .* \d+\.\d{3} s/row", rows[1]);

        using var decode = ml.Transforms.WfVaeDecode(new WfVaeDecoderOptions
        {
            OutputColumnName = "Video.Decoded", InputColumnName = "Latent", ModelDirectory = ModelDir, Log = ml,
        }).Fit(encoded);
        Assert.Equal(2, Columns(decode.Transform(encoded), "Video.Decoded")[0].Count);
        var dec = Of("WfVaeDecode: ");
        Assert.Contains(dec, m => m.Contains("model loaded from", StringComparison.Ordinal));
        Assert.Equal(2, dec.Count(m => m.Contains("decoded a row", StringComparison.Ordinal)));
    }

    [Fact]
    public void Without_Log_the_stages_say_nothing()
    {
        var ml = new MLContext(seed: 1);
        var messages = new List<string>();
        ml.Log += (_, e) => { lock (messages) messages.Add(e.Message); };
        var data = Paths(ml, Testsrc);
        using var encode = ml.Transforms.WfVaeEncode(new WfVaeEncoderOptions
        {
            OutputColumnName = "Latent", InputColumnName = "Video", ModelDirectory = ModelDir, Width = 32, Height = 32, MaxFrames = 9,
        }).Fit(data);
        Columns(encode.Transform(data), "Latent");
        lock (messages) Assert.DoesNotContain(messages, m => m.Contains("WfVaeEncode: ", StringComparison.Ordinal));
    }
}
