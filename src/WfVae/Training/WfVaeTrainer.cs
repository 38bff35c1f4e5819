using System.Diagnostics;
using TorchSharp;
using TorchSharp.Modules;
using WfVae.Files;
using WfVae.Metrics;
using static TorchSharp.torch;

namespace WfVae.Training;

/// <summary>Losses and diagnostics of one training step (unscaled official terms; <see cref="Loss"/> is the optimised, scaled objective).</summary>
public sealed record TrainingStepResult
{
    /// <summary>Step number after this step (1 for the first).</summary>
    public long Step { get; init; }
    /// <summary>True when this step updated only the discriminator.</summary>
    public bool DiscriminatorStep { get; init; }
    /// <summary>Optimised objective (scaled by 1/(3·H·W) with <see cref="TrainingOptions.NormalizeByPixels"/>).</summary>
    public double Loss { get; init; }
    /// <summary>Mean absolute error per pixel in [-1, 1] units.</summary>
    public double L1 { get; init; }
    /// <summary>Mean squared error per pixel in [-1, 1] units.</summary>
    public double Mse { get; init; }
    /// <summary>Official reconstruction term Σ|x − x̂| / (B·T) (plus <see cref="TrainingOptions.MseWeight"/>·Σ(x − x̂)² / (B·T)).</summary>
    public double Reconstruction { get; init; }
    /// <summary>KL per sample (Σ over latent elements / B).</summary>
    public double Kl { get; init; }
    /// <summary>Wavelet loss (Σ|W2 − Ŵ2| + Σ|W3 − Ŵ3|) / B.</summary>
    public double Wavelet { get; init; }
    /// <summary>Generator adversarial loss −mean D(x̂) (0 when unused).</summary>
    public double GeneratorAdversarial { get; init; }
    /// <summary>Adaptive adversarial weight times disc_weight (0 when unused).</summary>
    public double AdversarialWeight { get; init; }
    /// <summary>Discriminator hinge loss (discriminator steps only).</summary>
    public double DiscriminatorLoss { get; init; }
    /// <summary>PSNR of the training batch (dB).</summary>
    public double Psnr { get; init; }
    /// <summary>Global gradient norm before clipping.</summary>
    public double GradNorm { get; init; }
    /// <summary>Learning rate used.</summary>
    public double LearningRate { get; init; }
    /// <summary>False when the loss was not finite and the update was skipped.</summary>
    public bool Applied { get; init; } = true;
}

/// <summary>A progress report (every <see cref="TrainingOptions.LogEvery"/> steps and at checkpoints).</summary>
public sealed record TrainingProgress(TrainingStepResult Last, long TotalSteps, double MeanLoss, double MeanPsnr, double SecondsPerStep, TimeSpan Elapsed, string? CheckpointWritten);

/// <summary>How a <see cref="WfVaeTrainer.Train"/> call ended.</summary>
public sealed record TrainingSummary(long StartStep, long EndStep, bool Cancelled, TimeSpan Elapsed, string CheckpointDirectory);

/// <summary>
/// Trains a <see cref="WfVaeModel"/> with the official WF-VAE objective (spec §7, computed by <see cref="WfVaeObjective"/>):
/// L1 reconstruction, KL, the wavelet energy-flow loss and, optionally, a 3D PatchGAN with adaptive weight; AdamW, EMA,
/// gradient clipping, optional bf16 on CUDA. State lives in a run folder whose <c>checkpoint/</c> sub-folder
/// (<see cref="TrainingCheckpointStore"/>) is replaced atomically. Every random draw of step s (data, posterior noise,
/// dropout masks) comes from generators seeded by (seed, s) only, never the global torch RNG, so a resumed run continues
/// exactly where the checkpoint left off and training neither depends on nor changes global random state.
/// </summary>
public sealed class WfVaeTrainer : IDisposable
{
    /// <summary>Name of the checkpoint folder inside the run folder.</summary>
    public const string CheckpointFolderName = TrainingCheckpointStore.FolderName;
    // Salts of the per-step random streams (MixSeed): changing one changes every run's random numbers.
    private const long DataSalt = 0x5EED, PosteriorNoiseSalt = 0xB0153, DropoutSalt = 0xD15C, DiscriminatorInitSalt = 0xD15C0;

    private readonly AdamWOptimizer _opt;
    private readonly Dictionary<string, Tensor> _ema = [];
    private readonly PatchDiscriminator3D? _disc;
    private readonly AdamWOptimizer? _discOpt;
    private readonly TrainingCheckpointStore _store;
    private double _trainSeconds;
    private bool _disposed;

    /// <summary>The model being trained (its weights are the raw, non-EMA weights).</summary>
    public WfVaeModel Model { get; }
    /// <summary>Options in force.</summary>
    public TrainingOptions Options { get; private set; }
    /// <summary>The run folder.</summary>
    public string RunDirectory { get; }
    /// <summary>Completed steps.</summary>
    public long Step { get; private set; }
    /// <summary>Step of the last checkpoint written or loaded (−1 if none).</summary>
    public long CheckpointStep { get; private set; } = -1;

    /// <summary>Where the checkpoint of <paramref name="runDirectory"/> lives.</summary>
    public static string CheckpointDirectory(string runDirectory) => Path.Combine(runDirectory, CheckpointFolderName);

    /// <summary>Where a crash in the middle of a checkpoint swap leaves the previous checkpoint (still resumable).</summary>
    public static string CheckpointBackupDirectory(string runDirectory) => AtomicFileWriter.BackupPathOf(CheckpointDirectory(runDirectory));

    private WfVaeTrainer(WfVaeModel model, TrainingOptions options, string runDirectory)
    {
        options.Validate();
        Model = model;
        Options = options;
        _store = new TrainingCheckpointStore(runDirectory);
        RunDirectory = _store.RunDirectory;
        if (options.BFloat16 && model.Device.type != DeviceType.CUDA)
            throw new NotSupportedException("TrainingOptions.BFloat16 needs a CUDA device: bfloat16 training is slow and inaccurate on CPU. Train in fp32 on CPU, or load the model on a CUDA device.");
        var trainable = model.Network.named_parameters().Where(p => p.parameter.requires_grad).Select(p => (p.name, p.parameter)).ToList();
        _opt = new AdamWOptimizer(trainable, options.Beta1, options.Beta2, options.Epsilon, options.WeightDecay, masterWeights: options.BFloat16);
        if (options.BFloat16) model.ToDType(ScalarType.BFloat16);
        using (no_grad())
            foreach (var (name, w) in _opt.Weights) _ema[name] = w.detach().to(ScalarType.Float32).clone();
        if (options.UseDiscriminator)
        {
            using (var init = new Generator((ulong)MixSeed(options.Seed, 0, DiscriminatorInitSalt)))
                _disc = new PatchDiscriminator3D(options.DiscriminatorChannels, options.DiscriminatorLayers, init);
            if (model.Device.type != DeviceType.CPU) _disc.to(model.Device);
            _disc.train();
            var dparams = _disc.named_parameters().Select(p => (p.name, p.parameter)).ToList();
            _discOpt = new AdamWOptimizer(dparams, options.Beta1, options.Beta2, options.Epsilon, options.WeightDecay, masterWeights: false);
        }
        model.Network.train();
    }

    /// <summary>True when <paramref name="runDirectory"/> holds a checkpoint (or the backup of an interrupted swap).</summary>
    public static bool HasCheckpoint(string runDirectory) => new TrainingCheckpointStore(runDirectory).Find() is not null;

    /// <summary>Starts a fresh run: a model with seeded random weights for <paramref name="config"/>.</summary>
    public static WfVaeTrainer CreateNew(string runDirectory, WfVaeConfig config, TrainingOptions options, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var model = WfVaeModel.Create(config, options.Seed, device);
        try { return new WfVaeTrainer(model, options, runDirectory); }
        catch { model.Dispose(); throw; }
    }

    /// <summary>Fine-tunes an existing model folder (e.g. a released checkpoint) in a new run folder.</summary>
    public static WfVaeTrainer FromModel(string runDirectory, string modelDirectory, TrainingOptions options, Device? device = null)
    {
        options.Validate();
        var model = WfVaeModel.Load(modelDirectory, device);
        try { return new WfVaeTrainer(model, options, runDirectory); }
        catch { model.Dispose(); throw; }
    }

    /// <summary>
    /// Resumes from the checkpoint in <paramref name="runDirectory"/>: model, optimiser, EMA, discriminator, step and
    /// options. <paramref name="adjust"/> may change options that do not alter the state layout (steps, logging, lr).
    /// </summary>
    public static WfVaeTrainer Resume(string runDirectory, Func<TrainingOptions, TrainingOptions>? adjust = null, Device? device = null)
    {
        var ckpt = new TrainingCheckpointStore(runDirectory).Open();
        var saved = ckpt.Options;
        var options = adjust?.Invoke(saved) ?? saved;
        if (options.UseDiscriminator != saved.UseDiscriminator || options.BFloat16 != saved.BFloat16 ||
            options.DiscriminatorChannels != saved.DiscriminatorChannels || options.DiscriminatorLayers != saved.DiscriminatorLayers)
            throw new ArgumentException("TrainingOptions.UseDiscriminator, DiscriminatorChannels, DiscriminatorLayers and BFloat16 of a run cannot change on resume; start a new run folder.");
        var model = WfVaeModel.Load(ckpt.ModelDirectory, device);
        WfVaeTrainer? trainer = null;
        try
        {
            trainer = new WfVaeTrainer(model, options, runDirectory);
            trainer.LoadState(ckpt);
            return trainer;
        }
        catch
        {
            if (trainer is not null) trainer.Dispose(); else model.Dispose();
            throw;
        }
    }

    private void LoadState(StoredCheckpoint ckpt)
    {
        using (var r = new SafetensorsReader(ckpt.OptimizerFile))
            _opt.LoadState(n => r.Entries.ContainsKey(n) ? r.Read(n).to(Model.Device) : null, ckpt.Step);
        using (var r = new SafetensorsReader(ckpt.EmaFile))
            CopyInto(_ema, r, "EMA state");
        if (_disc is not null && _discOpt is not null)
        {
            using (var r = new SafetensorsReader(ckpt.DiscriminatorFile))
                CopyInto(_disc.state_dict(), r, "discriminator state");
            using var ro = new SafetensorsReader(ckpt.DiscriminatorOptimizerFile);
            _discOpt.LoadState(n => ro.Entries.ContainsKey(n) ? ro.Read(n).to(Model.Device) : null, ckpt.Step);
        }
        Step = ckpt.Step;
        CheckpointStep = ckpt.Step;
        _trainSeconds = ckpt.TrainSeconds;
    }

    private static void CopyInto(IEnumerable<KeyValuePair<string, Tensor>> targets, SafetensorsReader r, string what)
    {
        using var _ = no_grad();
        foreach (var (name, t) in targets)
        {
            if (!r.Entries.ContainsKey(name)) throw new InvalidDataException($"{what} has no tensor '{name}'.");
            using var src = r.Read(name);
            t.copy_(src);
        }
    }

    /// <summary>Learning rate at step <paramref name="step"/> (0-based): linear warm-up, then constant or cosine.</summary>
    public double LearningRateAt(long step)
    {
        var o = Options;
        double lr = o.LearningRate;
        if (o.WarmupSteps > 0 && step < o.WarmupSteps) return lr * (step + 1) / o.WarmupSteps;
        if (o.Schedule == LearningRateSchedule.Cosine && o.Steps > o.WarmupSteps)
        {
            double p = Math.Clamp((double)(step - o.WarmupSteps) / Math.Max(1, o.Steps - o.WarmupSteps), 0, 1);
            return lr * (o.MinLearningRateFraction + (1 - o.MinLearningRateFraction) * 0.5 * (1 + Math.Cos(Math.PI * p)));
        }
        return lr;
    }

    /// <summary>The data RNG of step <paramref name="step"/>: a pure function of (seed, step).</summary>
    public static Random StepRandom(long seed, long step) => new(MixSeed(seed, step, DataSalt));

    /// <summary>A torch generator of step <paramref name="step"/>'s stream <paramref name="salt"/>, on the model's device.</summary>
    private Generator StepGenerator(long step, long salt) => new((ulong)MixSeed(Options.Seed, step, salt), Model.Device);

    private static int MixSeed(long seed, long step, long salt)
    {
        ulong z = unchecked((ulong)seed * 0x9E3779B97F4A7C15UL ^ (ulong)step * 0xBF58476D1CE4E5B9UL ^ (ulong)salt * 0x94D049BB133111EBUL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (int)(z & 0x7FFFFFFF);
    }

    /// <summary>
    /// Trains until <see cref="TrainingOptions.Steps"/> or cancellation. Checkpoints every
    /// <see cref="TrainingOptions.CheckpointEvery"/> steps and at the end; on cancellation the current step is
    /// checkpointed when <paramref name="checkpointOnCancel"/> (the swap is atomic, so an interrupted write leaves the
    /// previous checkpoint intact) and the method returns with <see cref="TrainingSummary.Cancelled"/> set.
    /// </summary>
    /// <param name="data">Training clips.</param>
    /// <param name="progress">Receives progress reports.</param>
    /// <param name="ct">Stops training after the current step.</param>
    /// <param name="checkpointOnCancel">Checkpoint the current step when cancelled.</param>
    /// <param name="stopAtStep">Stop (with a checkpoint) once this step is reached, without changing the schedule, which
    /// still runs to <see cref="TrainingOptions.Steps"/>.</param>
    public TrainingSummary Train(VideoClipDataset data, Action<TrainingProgress>? progress = null, CancellationToken ct = default, bool checkpointOnCancel = true, long? stopAtStep = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        ObjectDisposedException.ThrowIf(_disposed, this);
        long start = Step;
        var wall = Stopwatch.StartNew();
        var window = Stopwatch.StartNew();
        double sumLoss = 0, sumPsnr = 0;
        int n = 0;
        bool cancelled = false;
        long end = Math.Min(Options.Steps, stopAtStep ?? long.MaxValue);
        while (Step < end)
        {
            if (ct.IsCancellationRequested) { cancelled = true; break; }
            TrainingStepResult r;
            using (var scope = NewDisposeScope())
            {
                var batch = data.Sample(StepRandom(Options.Seed, Step), Options.BatchSize, Options.Frames, Options.Size, Options.Stride2Probability);
                r = TrainStep(batch);
            }
            if (!r.DiscriminatorStep) { sumLoss += r.Loss; sumPsnr += r.Psnr; n++; }
            string? written = null;
            if (Step % Options.CheckpointEvery == 0 || Step == end)
            {
                _trainSeconds += wall.Elapsed.TotalSeconds; wall.Restart();
                written = SaveCheckpoint();
            }
            if (progress is not null && (Step % Options.LogEvery == 0 || written is not null || Step == end))
            {
                double sec = window.Elapsed.TotalSeconds / Math.Max(1, Options.LogEvery);
                progress(new TrainingProgress(r, Options.Steps, n > 0 ? sumLoss / n : double.NaN, n > 0 ? sumPsnr / n : double.NaN,
                    Step % Options.LogEvery == 0 ? sec : double.NaN, TimeSpan.FromSeconds(_trainSeconds + wall.Elapsed.TotalSeconds), written));
                sumLoss = sumPsnr = 0; n = 0;
                window.Restart();
            }
        }
        _trainSeconds += wall.Elapsed.TotalSeconds; wall.Restart();
        if (cancelled && checkpointOnCancel && Step != CheckpointStep) SaveCheckpoint();
        return new TrainingSummary(start, Step, cancelled, TimeSpan.FromSeconds(_trainSeconds), CheckpointDirectory(RunDirectory));
    }

    /// <summary>One optimisation step on <paramref name="video"/> (B, 3, T, H, W) in [-1, 1]; advances <see cref="Step"/>.</summary>
    public TrainingStepResult TrainStep(Tensor video)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(video);
        if (video.dim() != 5 || video.shape[1] != 3) throw new ArgumentException($"training video must be (B, 3, T, H, W), got [{string.Join(",", video.shape)}].");
        Model.ShapeRules.Validate(video.shape[2], video.shape[3], video.shape[4]);
        long s = Step;
        bool adversarial = _disc is not null && s >= Options.DiscriminatorStart;
        bool discStep = adversarial && s % 2 == 1;
        double lr = LearningRateAt(s);
        using var scope = NewDisposeScope();
        var x = video.to(Model.DType, Model.Device);
        TrainingStepResult result = discStep ? DiscriminatorStep(x, s, lr) : GeneratorStep(x, s, lr, adversarial);
        Step = s + 1;
        return result with { Step = Step };
    }

    private TrainingStepResult GeneratorStep(Tensor x, long s, double lr, bool adversarial)
    {
        var o = Options;
        long b = x.shape[0], t = x.shape[2], h = x.shape[3], w = x.shape[4];
        using var dropout = StepGenerator(s, DropoutSalt);
        var (recon, moments, w2, w3, w2Hat, w3Hat) = Model.TrainingForward(x, PosteriorNoise(x, s), dropout);
        var terms = WfVaeObjective.Generator(o, x, recon, moments, w2, w3, w2Hat, w3Hat);
        var loss = terms.Total;
        double gAdv = 0, dWeight = 0;
        if (adversarial)
        {
            var gLoss = WfVaeObjective.GeneratorAdversarial(_disc!.forward(recon, dropout));
            dWeight = WfVaeObjective.AdaptiveAdversarialWeight(o, terms.Reconstruction, gLoss, Model.DecoderNet.LastLayerWeight);
            loss = loss.add(gLoss.mul(dWeight));
            gAdv = gLoss.item<float>();
        }
        double scale = o.NormalizeByPixels ? 1.0 / (3.0 * h * w) : 1.0;
        var scaled = loss.mul(scale);
        double lossValue = scaled.item<float>();
        double psnr = VideoMetrics.Psnr(x, recon);
        var res = new TrainingStepResult
        {
            Loss = lossValue,
            L1 = terms.AbsoluteErrorSum.item<float>() / (b * t * 3.0 * h * w),
            Mse = terms.SquaredErrorSum.item<float>() / (b * t * 3.0 * h * w),
            Reconstruction = terms.Reconstruction.item<float>(),
            Kl = terms.Kl.item<float>(),
            Wavelet = terms.Wavelet.item<float>(),
            GeneratorAdversarial = gAdv,
            AdversarialWeight = dWeight,
            Psnr = psnr,
            LearningRate = lr,
        };
        _opt.ZeroGrad();
        if (!double.IsFinite(lossValue)) return res with { Applied = false };
        scaled.backward();
        _discOpt?.ZeroGrad();
        double norm = _opt.ClipGradNorm(o.GradientClipNorm);
        if (!double.IsFinite(norm)) { _opt.ZeroGrad(); return res with { GradNorm = norm, Applied = false }; }
        _opt.Update(lr);
        _opt.ZeroGrad();
        UpdateEma();
        return res with { GradNorm = norm };
    }

    /// <summary>The posterior noise of step <paramref name="s"/> (null when training on the posterior mean).</summary>
    private Tensor? PosteriorNoise(Tensor x, long s)
    {
        if (!Options.SamplePosterior) return null;
        using var gen = StepGenerator(s, PosteriorNoiseSalt);
        return randn(Model.LatentShape(x.shape[0], x.shape[2], x.shape[3], x.shape[4]), dtype: Model.DType, device: Model.Device, generator: gen);
    }

    private TrainingStepResult DiscriminatorStep(Tensor x, long s, double lr)
    {
        var o = Options;
        using var dropout = StepGenerator(s, DropoutSalt);
        Tensor recon;
        using (no_grad())
            recon = Model.TrainingForward(x, PosteriorNoise(x, s), dropout).Recon.detach();
        var real = _disc!.forward(x, dropout);
        var fake = _disc.forward(recon, dropout);
        var dLoss = WfVaeObjective.DiscriminatorHinge(real, fake);
        double value = dLoss.item<float>();
        _discOpt!.ZeroGrad();
        if (!double.IsFinite(value)) return new TrainingStepResult { DiscriminatorStep = true, DiscriminatorLoss = value, Applied = false, LearningRate = lr };
        dLoss.backward();
        double norm = _discOpt.ClipGradNorm(o.GradientClipNorm);
        _discOpt.Update(o.DiscriminatorLearningRate ?? lr);
        _discOpt.ZeroGrad();
        _opt.ZeroGrad();
        return new TrainingStepResult { DiscriminatorStep = true, DiscriminatorLoss = value, GradNorm = norm, LearningRate = o.DiscriminatorLearningRate ?? lr };
    }

    private void UpdateEma()
    {
        double d = Math.Min(Options.EmaDecay, (1.0 + _opt.Step) / (10.0 + _opt.Step));
        using var _ = no_grad();
        foreach (var (name, weights) in _opt.Weights)
        {
            using var scope = NewDisposeScope();
            _ema[name].mul_(d).add_(weights.to(ScalarType.Float32), alpha: 1 - d);
        }
    }

    /// <summary>Writes the checkpoint atomically (temporary folder, then rename); returns its folder.</summary>
    public string SaveCheckpoint()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        string written = _store.Save(new TrainingCheckpointContent(Model.Config, MasterStateDict(), _opt.StateTensors(), _ema,
            _disc?.state_dict(), _discOpt?.StateTensors(), Step, _trainSeconds, Options));
        CheckpointStep = Step;
        return written;
    }

    /// <summary>The model's state dict with fp32 (master) weights for the trainable parameters.</summary>
    private List<KeyValuePair<string, Tensor>> MasterStateDict()
    {
        var masters = _opt.Weights.ToDictionary(p => p.Name, p => p.Weights);
        return Model.Network.state_dict()
            .Select(kv => new KeyValuePair<string, Tensor>(kv.Key, masters.TryGetValue(kv.Key, out var m) ? m : kv.Value))
            .ToList();
    }

    /// <summary>The EMA weights (fp32), by parameter name.</summary>
    public IReadOnlyDictionary<string, Tensor> EmaWeights => _ema;

    /// <summary>
    /// Writes a model folder (config.json + diffusion_pytorch_model.safetensors) from the checkpoint of
    /// <paramref name="runDirectory"/>, with the EMA weights when <paramref name="useEma"/>, stored as
    /// <paramref name="storage"/> (Float32, Float16 or BFloat16; <see cref="WfVaeModel.Load"/> casts back to fp32).
    /// Returns the step of the exported checkpoint.
    /// </summary>
    public static long Export(string runDirectory, string outDirectory, bool useEma, ScalarType storage = ScalarType.Float32, IReadOnlyDictionary<string, string>? metadata = null) =>
        new TrainingCheckpointStore(runDirectory).Export(outDirectory, useEma, storage, metadata);

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _opt.Dispose();
        _discOpt?.Dispose();
        _disc?.Dispose();
        foreach (var t in _ema.Values) t.Dispose();
        Model.Dispose();
    }
}
