using System.Text;
using System.Text.Json.Nodes;
using CsCheck;
using TorchSharp;
using static TorchSharp.torch;

namespace WfVae.Tests.Model;

/// <summary>
/// Property-based fuzzing (CsCheck) of the untrusted inputs: checkpoint bytes, config.json values, safetensors headers and
/// encode/decode tensors. The property: success, or a clear typed exception (the project's, ArgumentException,
/// InvalidDataException, IOException, ArithmeticException) whose one-line message names the file, key or tensor; never
/// another exception type, a libtorch trace, or a case running past its time box. Cases run in this process: every input
/// is checked in managed code before libtorch sees it, and an abort there would still fail CI (the test host dies).
/// Each run draws a fresh seed; a failure prints it (replay with the environment variable CsCheck_Seed).
/// </summary>
public sealed class FuzzTests : IClassFixture<TinyModelFixture>, IDisposable
{
    private static readonly TimeSpan CaseTimeBox = TimeSpan.FromSeconds(30);
    private readonly WfVaeModel _model;
    private readonly string _dir = TestPaths.NewTempDir("wfvae-fuzz");
    private static readonly byte[] Weights = File.ReadAllBytes(Path.Combine(TestPaths.TinyModelDir, WfVaeModel.WeightsFileName));
    private static readonly string Config = File.ReadAllText(Path.Combine(TestPaths.TinyModelDir, WfVaeModel.ConfigFileName));

    public FuzzTests(TinyModelFixture f) => _model = f.Model;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Runs <paramref name="act"/> within the time box; a failure must be a clear typed error whose message names one of <paramref name="names"/>.</summary>
    private static void SucceedsOrFailsClearly(Action act, string what, params string[] names)
    {
        Exception? error = null;
        var run = Task.Run(() =>
        {
            try { act(); }
            catch (Exception e) { error = e; }
        });
        if (!run.Wait(CaseTimeBox))
            throw new TimeoutException($"{what} ran past {CaseTimeBox.TotalSeconds} s");
        if (error is null) return;
        bool typed = error is WfVaeCheckpointException or WfVaeConfigException or ArgumentException or InvalidDataException or IOException
            || (error is ArithmeticException && error is not DivideByZeroException and not OverflowException);
        Assert.True(typed, $"{what}: {error.GetType().Name} is not a clear error type: {error}");
        string m = error.Message;
        Assert.True(m.Length < 2000 && !m.Contains("Exception raised from", StringComparison.Ordinal) && !m.Contains('\n'),
            $"{what}: the message is not one clear line ({m.Length} characters): {m[..Math.Min(m.Length, 600)]}");
        Assert.True(names.Any(n => m.Contains(n, StringComparison.OrdinalIgnoreCase)), $"{what}: the message names none of [{string.Join(", ", names)}]: {m}");
    }

    private string CaseDir(string config, byte[] weights)
    {
        string d = Path.Combine(_dir, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(d);
        File.WriteAllText(Path.Combine(d, WfVaeModel.ConfigFileName), config);
        File.WriteAllBytes(Path.Combine(d, WfVaeModel.WeightsFileName), weights);
        return d;
    }

    private void LoadCase(string config, byte[] weights, string what)
    {
        string d = CaseDir(config, weights);
        WfVaeModel? model = null;
        try
        {
            // A load error names the file; a checkpoint that loads (mutated but finite weights) may still overflow, and then the error names the output tensor.
            SucceedsOrFailsClearly(() => model = WfVaeModel.Load(d), what + " (load)", WfVaeModel.WeightsFileName, WfVaeModel.ConfigFileName, d);
            if (model is null) return;
            SucceedsOrFailsClearly(() =>
            {
                using var x = zeros(new long[] { 1, 3, 1, 16, 16 });
                using var p = model.Encode(x);
            }, what + " (encode)", "latent encoded from the video");
        }
        finally
        {
            model?.Dispose();
            Directory.Delete(d, recursive: true);
        }
    }

    private static long HeaderEnd => 8 + BitConverter.ToInt64(Weights, 0);

    [Fact]
    public void Mutated_checkpoint_bytes_load_or_fail_clearly()
    {
        var gen = Gen.Select(Gen.Int[0, 4], Gen.Double[0, 1], Gen.Byte, Gen.Int[1, 64]);
        gen.Sample((kind, at, value, count) =>
        {
            var bytes = (byte[])Weights.Clone();
            long headerEnd = HeaderEnd;
            switch (kind)
            {
                case 0: // inside the length prefix and the JSON header
                    for (long i = (long)(at * headerEnd), n = 0; n < count && i < headerEnd; i++, n++) bytes[i] = value;
                    break;
                case 1: // inside the tensor data
                    for (long i = headerEnd + (long)(at * (bytes.Length - headerEnd)), n = 0; n < count && i < bytes.Length; i++, n++) bytes[i] = value;
                    break;
                case 2:
                    bytes = bytes[..(int)(at * bytes.Length)];
                    break;
                case 3:
                    bytes = [.. bytes, .. Enumerable.Repeat(value, count)];
                    break;
                default: // a float of the data set to ±Inf / NaN
                    long f = headerEnd + 4 * (long)(at * ((bytes.Length - headerEnd) / 4 - 1));
                    BitConverter.TryWriteBytes(bytes.AsSpan((int)f, 4), value % 3 == 0 ? float.NaN : value % 3 == 1 ? float.PositiveInfinity : float.NegativeInfinity);
                    break;
            }
            LoadCase(Config, bytes, $"checkpoint mutation {kind} at {at:F4} value {value} count {count}");
        }, iter: 30, threads: 1);
    }

    private static readonly JsonNode?[] ConfigValues =
    [
        0, -1, 1, 2, 3, 7, 1_000_000_000, long.MaxValue, 1e300, -0.5, 0.5, "x", "", null, true, false,
        new JsonArray(), new JsonObject(), "AttnBlock3DFix", "HaarWaveletTransform3D", "layernorm", "groupnorm", "nearest",
    ];

    [Fact]
    public void Mutated_config_values_load_or_fail_clearly()
    {
        var keys = JsonNode.Parse(Config)!.AsObject().Select(p => p.Key).ToArray();
        var gen = Gen.Select(Gen.Int[0, keys.Length - 1], Gen.Int[-1, ConfigValues.Length - 1], Gen.Bool);
        gen.Sample((key, value, asText) =>
        {
            var cfg = JsonNode.Parse(Config)!.AsObject();
            if (value < 0) cfg.Remove(keys[key]);
            else cfg[keys[key]] = asText && ConfigValues[value] is JsonValue v ? JsonValue.Create(v.ToJsonString()) : ConfigValues[value]?.DeepClone();
            LoadCase(cfg.ToJsonString(), Weights, $"config {keys[key]} = {(value < 0 ? "(removed)" : cfg[keys[key]]?.ToJsonString() ?? "null")}");
        }, iter: 30, threads: 1);
    }

    [Fact]
    public void Mutated_safetensors_headers_read_or_fail_clearly()
    {
        long headerEnd = HeaderEnd;
        var header = JsonNode.Parse(Encoding.UTF8.GetString(Weights, 8, (int)(headerEnd - 8)))!.AsObject();
        var names = header.Where(p => p.Key != "__metadata__").Select(p => p.Key).ToArray();
        var data = Weights[(int)headerEnd..];
        var gen = Gen.Select(Gen.Int[0, 8], Gen.Int[0, names.Length - 1], Gen.Long[-3, 1L << 40], Gen.Int[0, 3]);
        gen.Sample((kind, entry, number, index) =>
        {
            var h = header.DeepClone().AsObject();
            var e = h[names[entry]]!.AsObject();
            string? extraJson = null;
            switch (kind)
            {
                case 0: e["data_offsets"]![index % 2] = number; break;
                case 1: e["shape"] = new JsonArray([.. e["shape"]!.AsArray().Select((d, i) => (JsonNode?)(i == index % Math.Max(1, e["shape"]!.AsArray().Count) ? number : d!.GetValue<long>()))]); break;
                case 2: e["dtype"] = new[] { "F16", "I64", "U8", "BOOL", "F64", "Q4", "" }[index + (int)(Math.Abs(number) % 4)]; break;
                case 3: h.Remove(names[entry]); break;
                case 4: e["shape"] = new JsonArray(1L << 62, 5); break;
                case 5: e.Remove(index % 2 == 0 ? "shape" : "data_offsets"); break;
                case 6: h["__metadata__"] = new JsonObject { ["format"] = number }; break;
                case 7: e["data_offsets"] = h[names[(entry + 1) % names.Length]]!["data_offsets"]!.DeepClone(); break;
                default: extraJson = $",\"{names[entry]}\":{e.ToJsonString()}"; break; // a duplicate key
            }
            string json = h.ToJsonString();
            if (extraJson is not null) json = json[..^1] + extraJson + "}";
            var head = Encoding.UTF8.GetBytes(json);
            byte[] file = [.. BitConverter.GetBytes((long)head.Length), .. head, .. data];
            string path = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".safetensors");
            File.WriteAllBytes(path, file);
            try
            {
                SucceedsOrFailsClearly(() =>
                {
                    using var reader = new SafetensorsReader(path);
                    foreach (var name in reader.Entries.Keys)
                    {
                        using var t = reader.Read(name);
                    }
                }, $"header mutation {kind} of '{names[entry]}' ({number}, {index})", Path.GetFileName(path));
            }
            finally
            {
                File.Delete(path);
            }
        }, iter: 60, threads: 1);
    }

    private static readonly float[] Specials = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, 1e30f, -1e30f, 0f];

    [Fact]
    public void Random_encode_inputs_succeed_or_fail_clearly()
    {
        var gen = Gen.Select(Gen.Int[0, 2].Array[5], Gen.Int[0, 3], Gen.Int[-1, Specials.Length - 1], Gen.Int[0, 2]);
        gen.Sample((dimPick, rankPick, special, dtype) =>
        {
            long[] sizes = [1 + dimPick[0] % 2, new long[] { 3, 3, 1, 4 }[dimPick[1]], new long[] { 1, 5, 0, 9 }[dimPick[2]], new long[] { 8, 16, 12, 0 }[dimPick[3]], new long[] { 16, 8, 20, 24 }[dimPick[4]]];
            long[] shape = rankPick switch { 0 => sizes, 1 => sizes[1..], 2 => [.. sizes, 1], _ => sizes };
            SucceedsOrFailsClearly(() =>
            {
                using var scope = NewDisposeScope();
                var x = (rand(shape) * 2 - 1).to(new[] { ScalarType.Float32, ScalarType.Float64, ScalarType.Int64 }[dtype]);
                if (special >= 0 && x.numel() > 0 && x.is_floating_point()) x.view(-1)[x.numel() / 2] = Specials[special];
                using var p = _model.Encode(x);
                Assert.Equal(_model.LatentShape(shape[0], shape[2], shape[3], shape[4]), p.Mean.shape);
                Assert.True(p.Mean.isfinite().all().item<bool>(), "a latent that is not finite was returned without an error");
            }, $"encode of [{string.Join(",", shape)}] {dtype} special {special}", "video", "frames", "height", "width", "shape");
        }, iter: 40, threads: 1);
    }

    [Fact]
    public void Random_decode_inputs_succeed_or_fail_clearly()
    {
        var gen = Gen.Select(Gen.Int[0, 4].Array[4], Gen.Int[0, 2], Gen.Int[-1, Specials.Length - 1], Gen.Int[0, 3]);
        gen.Sample((dims, rankPick, special, chunk) =>
        {
            long[] sizes = [1, new long[] { 16, 16, 8, 0, 17 }[dims[0]], dims[1], 1 + dims[2] % 3, 1 + dims[3] % 3];
            long[] shape = rankPick switch { 0 => sizes, 1 => sizes[1..], _ => sizes };
            SucceedsOrFailsClearly(() =>
            {
                using var scope = NewDisposeScope();
                var z = randn(shape);
                if (special >= 0 && z.numel() > 0) z.view(-1)[z.numel() / 2] = Specials[special];
                var video = _model.Decode(z, chunk == 0 ? WfVaeModel.WholeVideo : chunk);
                Assert.Equal(new[] { shape[0], 3, _model.ShapeRules.VideoFrames(shape[2]), 8 * shape[3], 8 * shape[4] }, video.shape);
                Assert.True(video.isfinite().all().item<bool>(), "a video that is not finite was returned without an error");
            }, $"decode of [{string.Join(",", shape)}] special {special} chunk {chunk}", "latent", "frames", "shape", "video");
        }, iter: 40, threads: 1);
    }
}
