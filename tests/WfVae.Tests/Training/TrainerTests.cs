using TorchSharp;
using WfVae.Training;
using static TorchSharp.torch;

namespace WfVae.Tests.Training;

[Collection(GlobalTorchStateCollection.Name)]
public sealed class TrainerTests : IDisposable
{
    private readonly string _root = TestPaths.NewTempDir("wfvae-train");
    private readonly int _threads = torch.get_num_threads();

    // One intra-op thread: these tiny models gain nothing from more, and OpenMP spin-waiting with threads == cores
    // is pathologically slow when the machine's cores are shared. Restored after each test.
    public TrainerTests() => torch.set_num_threads(1);

    public void Dispose()
    {
        torch.set_num_threads(_threads);
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    internal static WfVaeConfig TinyConfig => new()
    {
        LatentDim = 4,
        BaseChannels = 8,
        EncoderNumResBlocks = 1,
        EncoderEnergyFlowHiddenSize = 8,
        DecoderNumResBlocks = 1,
        DecoderEnergyFlowHiddenSize = 8,
        UseAttention = false,
        NormType = NormType.LayerNorm,
        TInterpolation = TemporalInterpolation.Trilinear,
    };

    private static TrainingOptions Options(int steps) => new()
    {
        Steps = steps,
        Frames = 5,
        Size = 16,
        LearningRate = 2e-3,
        CheckpointEvery = 3,
        LogEvery = 1,
        Seed = 11,
    };

    /// <summary>Synthetic moving-gradient videos, decoded from their (fake) file names: no ffmpeg needed.</summary>
    internal static VideoClipDataset SyntheticData(int count = 4) =>
        new(Enumerable.Range(0, count).Select(i => $"synthetic-{i}.mp4"), path =>
        {
            int k = int.Parse(path.Split('-', '.')[1], System.Globalization.CultureInfo.InvariantCulture);
            const int t = 9, h = 20, w = 20;
            var frames = new byte[t][];
            for (int f = 0; f < t; f++)
            {
                frames[f] = new byte[h * w * 3];
                for (int c = 0; c < 3; c++)
                    for (int y = 0; y < h; y++)
                        for (int x = 0; x < w; x++)
                        {
                            float v = MathF.Sin(0.3f * (x + f * (k + 1)) + 0.5f * c + k) * MathF.Cos(0.25f * y - 0.2f * f) * 0.8f;
                            frames[f][(y * w + x) * 3 + c] = (byte)Math.Clamp((int)MathF.Round((v + 1f) * 127.5f), 0, 255);
                        }
            }
            return new DecodedVideo(frames, h, w);
        });

    private static Dictionary<string, float[]> Weights(WfVaeTrainer tr) =>
        tr.Model.Network.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().cpu().data<float>().ToArray());

    [Fact]
    public void LossDecreasesOnAFixedClip()
    {
        using var tr = WfVaeTrainer.CreateNew(Path.Combine(_root, "fixed"), TinyConfig, Options(20) with { SamplePosterior = false });
        using var clip = SyntheticData(1).Sample(new Random(0), 1, 5, 16);
        var losses = new List<double>();
        for (int i = 0; i < 20; i++) losses.Add(tr.TrainStep(clip).Loss);
        Assert.All(losses, l => Assert.True(double.IsFinite(l)));
        Assert.True(losses.Skip(17).Average() < 0.6 * losses.Take(3).Average(),
            $"loss did not decrease: first {string.Join(", ", losses.Take(3).Select(l => l.ToString("F4")))} last {string.Join(", ", losses.Skip(17).Select(l => l.ToString("F4")))}");
        Assert.Equal(20, tr.Step);
    }

    [Fact]
    public void MseWeightAddsTheSquaredErrorToTheReconstructionTerm()
    {
        using var clip = SyntheticData(1).Sample(new Random(0), 1, 5, 16);
        var opts = Options(1) with { SamplePosterior = false, LearningRate = 1e-9 };
        TrainingStepResult official, withMse;
        using (var tr = WfVaeTrainer.CreateNew(Path.Combine(_root, "l1"), TinyConfig, opts))
            official = tr.TrainStep(clip);
        using (var tr = WfVaeTrainer.CreateNew(Path.Combine(_root, "mse"), TinyConfig, opts with { MseWeight = 2.5 }))
            withMse = tr.TrainStep(clip);

        // Same seed, same initial weights: the only difference is 2.5·Σ(x − x̂)²/(B·T), i.e. 2.5·MSE·3·H·W per frame.
        Assert.Equal(official.L1, withMse.L1, 1e-6);
        Assert.Equal(official.Mse, withMse.Mse, 1e-6);
        Assert.True(official.Mse > 0 && official.Mse < 4);
        double expectedRec = official.Reconstruction + 2.5 * official.Mse * 3 * 16 * 16;
        Assert.Equal(expectedRec, withMse.Reconstruction, expectedRec * 1e-5);
        Assert.Equal(official.Loss + 2.5 * official.Mse, withMse.Loss, 1e-5);
        Assert.Throws<ArgumentException>(() => (opts with { MseWeight = -1 }).Validate());
    }

    [Fact]
    public void ResumeContinuesExactlyLikeAnUninterruptedRun()
    {
        var data = SyntheticData();
        string a = Path.Combine(_root, "straight"), b = Path.Combine(_root, "interrupted");
        Dictionary<string, float[]> expected;
        using (var tr = WfVaeTrainer.CreateNew(a, TinyConfig, Options(6)))
        {
            var s = tr.Train(data);
            Assert.False(s.Cancelled);
            Assert.Equal(6, s.EndStep);
            expected = Weights(tr);
        }

        // Same run, stopped after step 3 (the checkpoint), process state dropped, resumed from disk.
        using (var tr = WfVaeTrainer.CreateNew(b, TinyConfig, Options(3)))
            tr.Train(data);
        Assert.True(WfVaeTrainer.HasCheckpoint(b));
        using (var tr = WfVaeTrainer.Resume(b, o => o with { Steps = 6 }))
        {
            Assert.Equal(3, tr.Step);
            tr.Train(data);
            Assert.Equal(6, tr.Step);
            var got = Weights(tr);
            foreach (var (name, w) in expected)
            {
                var g = got[name];
                for (int i = 0; i < w.Length; i++)
                    Assert.True(Math.Abs(w[i] - g[i]) <= 1e-5f + 1e-4f * Math.Abs(w[i]), $"{name}[{i}]: {w[i]} vs {g[i]}");
            }
        }
    }

    [Fact]
    public void CancellationKeepsAReadableCheckpointAndResumeContinuesTheStepCount()
    {
        var data = SyntheticData();
        string run = Path.Combine(_root, "cancel");
        using var cts = new CancellationTokenSource();
        using (var tr = WfVaeTrainer.CreateNew(run, TinyConfig, Options(50)))
        {
            var s = tr.Train(data, p => { if (p.Last.Step == 4) cts.Cancel(); }, cts.Token);
            Assert.True(s.Cancelled);
            Assert.Equal(4, s.EndStep);
        }
        // The checkpoint is complete (model folder loads strictly, optimizer/EMA present) and no temp folder is left.
        string ckpt = WfVaeTrainer.CheckpointDirectory(run);
        using (var m = WfVaeModel.Load(Path.Combine(ckpt, "model"))) Assert.Equal(4, m.Config.LatentDim);
        Assert.True(File.Exists(Path.Combine(ckpt, "optimizer.safetensors")));
        Assert.True(File.Exists(Path.Combine(ckpt, "ema.safetensors")));
        Assert.Equal(["checkpoint"], Directory.GetFileSystemEntries(run).Select(e => Path.GetFileName(e)!).ToArray());

        using (var tr = WfVaeTrainer.Resume(run, o => o with { Steps = 6 }))
        {
            Assert.Equal(4, tr.Step);
            var s = tr.Train(data);
            Assert.Equal(6, s.EndStep);
        }

        // A crash between the two renames leaves only the backup: still resumable.
        Directory.Move(ckpt, WfVaeTrainer.CheckpointBackupDirectory(run));
        Assert.True(WfVaeTrainer.HasCheckpoint(run));
        using (var tr = WfVaeTrainer.Resume(run)) Assert.Equal(6, tr.Step);
    }

    [Fact]
    public void ExportWritesALoadableModelFolderInFp16()
    {
        var data = SyntheticData();
        string run = Path.Combine(_root, "export"), outDir = Path.Combine(_root, "model");
        using (var tr = WfVaeTrainer.CreateNew(run, TinyConfig, Options(3)))
            tr.Train(data);
        long step = WfVaeTrainer.Export(run, outDir, useEma: true, ScalarType.Float16);
        Assert.Equal(3, step);
        using (var r = new SafetensorsReader(Path.Combine(outDir, WfVaeModel.WeightsFileName)))
        {
            Assert.All(r.Entries.Values, e => Assert.Equal("F16", e.DType));
            Assert.Equal("ema", r.Metadata["wfvae_weights"]);
        }
        using var m = WfVaeModel.Load(outDir);
        Assert.Equal(ScalarType.Float32, m.DType);
        using var x = data.Sample(new Random(1), 1, 5, 16);
        using var post = m.Encode(x);
        using var y = m.Decode(post.Mean);
        Assert.Equal(x.shape, y.shape);
    }

    [Fact]
    public void DiscriminatorStepsAlternateAfterDiscStart()
    {
        using var tr = WfVaeTrainer.CreateNew(Path.Combine(_root, "gan"), TinyConfig,
            Options(4) with { UseDiscriminator = true, DiscriminatorStart = 1, DiscriminatorChannels = 8, DiscriminatorLayers = 2 });
        using var clip = SyntheticData(1).Sample(new Random(0), 1, 5, 16);
        var r0 = tr.TrainStep(clip); // before disc_start: generator only, no adversarial term
        var r1 = tr.TrainStep(clip); // odd step ≥ disc_start: discriminator only
        var r2 = tr.TrainStep(clip); // even: generator with adaptive adversarial weight
        Assert.False(r0.DiscriminatorStep);
        Assert.Equal(0, r0.AdversarialWeight);
        Assert.True(r1.DiscriminatorStep);
        Assert.True(double.IsFinite(r1.DiscriminatorLoss) && r1.DiscriminatorLoss > 0);
        Assert.False(r2.DiscriminatorStep);
        Assert.True(r2.AdversarialWeight > 0 && double.IsFinite(r2.AdversarialWeight));
        tr.SaveCheckpoint();
        using var resumed = WfVaeTrainer.Resume(Path.Combine(_root, "gan"));
        Assert.Equal(3, resumed.Step);
    }

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    /// <summary>Dropout in the model and the discriminator, posterior sampling and the GAN: every random source of a step.</summary>
    private static (WfVaeConfig, TrainingOptions) EveryRandomSource() =>
        (TinyConfig with { Dropout = 0.2 },
         Options(4) with { UseDiscriminator = true, DiscriminatorStart = 1, DiscriminatorChannels = 8, DiscriminatorLayers = 2 });

    [Fact]
    public void SameSeedIsBitReproducibleWhateverTheGlobalRngAndLeavesItUntouched()
    {
        var (config, opts) = EveryRandomSource();
        var data = SyntheticData();
        Dictionary<string, float[]> RunWithGlobalSeed(string name, long globalSeed, out List<double> losses)
        {
            torch.manual_seed(globalSeed);
            using var before = torch.get_rng_state();
            var seen = new List<double>();
            using var tr = WfVaeTrainer.CreateNew(Path.Combine(_root, name), config, opts);
            tr.Train(data, p => seen.Add(p.Last.DiscriminatorStep ? p.Last.DiscriminatorLoss : p.Last.Loss));
            using var after = torch.get_rng_state();
            Assert.True(Same(before, after), "training read or advanced the global torch RNG");
            losses = seen;
            return Weights(tr);
        }
        var a = RunWithGlobalSeed("a", 1, out var lossesA);
        var b = RunWithGlobalSeed("b", 987654321, out var lossesB);
        Assert.Equal(4, lossesA.Count);
        Assert.Equal(lossesA, lossesB);
        foreach (var (name, w) in a) Assert.True(w.AsSpan().SequenceEqual(b[name]), $"{name} differs between two runs with seed {opts.Seed}");

        // A different seed is a different run (the seed reaches weights, data, noise and dropout).
        using var other = WfVaeTrainer.CreateNew(Path.Combine(_root, "c"), config, opts with { Seed = opts.Seed + 1 });
        Assert.Contains(Weights(other), kv => !kv.Value.AsSpan().SequenceEqual(a[kv.Key]));
    }

    [Fact]
    public void CreateDrawsWeightsFromItsSeedOnly()
    {
        torch.manual_seed(5);
        using var before = torch.get_rng_state();
        using var m1 = WfVaeModel.Create(TinyConfig, seed: 21);
        torch.manual_seed(6);
        using var m2 = WfVaeModel.Create(TinyConfig, seed: 21);
        using var m3 = WfVaeModel.Create(TinyConfig, seed: 22);
        torch.manual_seed(5);
        using var after = torch.get_rng_state();
        Assert.True(Same(before, after));
        var p1 = m1.Network.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, p2) in m2.Network.named_parameters()) Assert.True(Same(p1[name], p2), name);
        Assert.Contains(m3.Network.named_parameters(), p => p.parameter.requires_grad && !Same(p1[p.name], p.parameter));
        // Conv weights follow PyTorch's default U(±1/√fanIn) and are not left at zero.
        foreach (var (name, p) in m1.Network.named_parameters().Where(p => p.parameter.requires_grad && p.name.EndsWith("conv.weight", StringComparison.Ordinal)))
        {
            double bound = 1 / Math.Sqrt(p.shape.Skip(1).Aggregate(1L, (x, y) => x * y));
            float max = p.abs().max().item<float>();
            Assert.True(max <= bound * (1 + 1e-6) && max > bound / 2, $"{name} [{string.Join(",", p.shape)}]: max |w| {max}, bound {bound}");
        }
    }

    [Fact]
    public void OptionErrorsNameTheOptionProperty()
    {
        Assert.Contains("TrainingOptions.Frames must be 1 + 4k", Assert.Throws<ArgumentException>(() => (Options(1) with { Frames = 8 }).Validate()).Message);
        Assert.Contains("TrainingOptions.LpipsWeights", Assert.Throws<NotSupportedException>(() => (Options(1) with { LpipsWeights = "vgg.pth" }).Validate()).Message);
        var bf16 = Assert.Throws<NotSupportedException>(() => WfVaeTrainer.CreateNew(Path.Combine(_root, "bf16"), TinyConfig, Options(1) with { BFloat16 = true }));
        Assert.Contains("TrainingOptions.BFloat16 needs a CUDA device", bf16.Message);
        Assert.DoesNotContain("--", bf16.Message);
    }

    [Fact]
    public void OptionsAreValidated()
    {
        Assert.Throws<ArgumentException>(() => (Options(1) with { Frames = 8 }).Validate());
        Assert.Throws<ArgumentException>(() => (Options(1) with { Size = 20 }).Validate());
        Assert.Throws<NotSupportedException>(() => (Options(1) with { LpipsWeights = "vgg.pth" }).Validate());
        var ex = Assert.Throws<NotSupportedException>(() => WfVaeTrainer.CreateNew(Path.Combine(_root, "bf16"), TinyConfig, Options(1) with { BFloat16 = true }));
        Assert.Contains("CUDA", ex.Message);
    }
}
