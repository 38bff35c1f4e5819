using System.CommandLine;
using System.Globalization;
using System.Text.RegularExpressions;
using TorchSharp;
using WfVae.Pipeline;
using WfVae.Training;
using WfVae.Video;
using static TorchSharp.torch;

namespace WfVae.Cli.Commands;

/// <summary><c>wfvae train</c> (train or resume a run folder) and <c>wfvae export</c> (run checkpoint → model folder).</summary>
internal static class TrainCommand
{
    /// <summary>The config used when --config is not given: the small official-class layout of the shipped model.</summary>
    public static WfVaeConfig SmallConfig => new()
    {
        LatentDim = 16,
        BaseChannels = 32,
        EncoderNumResBlocks = 1,
        EncoderEnergyFlowHiddenSize = 32,
        DecoderNumResBlocks = 1,
        DecoderEnergyFlowHiddenSize = 32,
        ConnectResLayerNum = 1,
        UseAttention = false,
        NormType = NormType.LayerNorm,
        TInterpolation = TemporalInterpolation.Trilinear,
        Scale = [0.18215, 0.18215, 0.18215, 0.18215],
        Shift = [0, 0, 0, 0],
        DiffusersVersion = "0.30.2",
    };

    public static Command Create()
    {
        var data = new Option<string>("--data") { Description = "Folder of training videos (searched recursively: mp4, mkv, webm, avi, mov, m4v, gif).", Required = true };
        var run = new Option<string>("--out", "--run") { Description = "Run folder; holds checkpoint/ and train.log. When it already has a checkpoint the run resumes.", Required = true };
        var config = new Option<string?>("--config") { Description = "config.json of the WFVAEModel to train from scratch (default: the small shipped layout, base_channels 32, latent_dim 16)." };
        var init = new Option<string?>("--init-model") { Description = "Fine-tune: start from this model folder (config.json + safetensors) instead of random weights." };
        var steps = new Option<int?>("--steps") { Description = "Total steps of the run (default 1000; on resume, extends or shortens the stored value)." };
        var until = new Option<long?>("--until") { Description = "Stop (with a checkpoint) at this step without changing the schedule, which still runs to --steps." };
        var batch = new Option<int>("--batch") { Description = "Clips per step.", DefaultValueFactory = _ => 1 };
        var frames = new Option<int>("--frames") { Description = "Frames per clip, 1+4k.", DefaultValueFactory = _ => 9 };
        var size = new Option<int>("--size") { Description = "Square crop size (multiple of 8).", DefaultValueFactory = _ => 64 };
        var lr = new Option<double?>("--lr") { Description = "Peak learning rate (default 1e-4; official 1e-5 at batch 8)." };
        var warmup = new Option<int>("--warmup") { Description = "Linear warm-up steps.", DefaultValueFactory = _ => 0 };
        var cosine = new Option<bool>("--cosine") { Description = "Cosine-decay the learning rate to 10% at the last step (default: constant, as official)." };
        var clip = new Option<double>("--clip-grad") { Description = "Global gradient-norm clip (0 disables).", DefaultValueFactory = _ => 1.0 };
        var ema = new Option<double>("--ema-decay") { Description = "EMA decay.", DefaultValueFactory = _ => 0.999 };
        var kl = new Option<double>("--kl-weight") { Description = "KL weight.", DefaultValueFactory = _ => 1e-6 };
        var wl = new Option<double>("--wavelet-weight") { Description = "Wavelet (energy-flow) loss weight.", DefaultValueFactory = _ => 0.1 };
        var mse = new Option<double?>("--mse-weight") { Description = "Weight of an extra squared-error reconstruction term added to L1 (default 0: the official objective); may be changed on resume." };
        var gan = new Option<bool>("--gan") { Description = "Train the 3D PatchGAN discriminator (hinge loss, adaptive weight)." };
        var discStart = new Option<int>("--disc-start") { Description = "First step with the adversarial term.", DefaultValueFactory = _ => 0 };
        var discWeight = new Option<double>("--disc-weight") { Description = "disc_weight of the adaptive adversarial weight.", DefaultValueFactory = _ => 0.5 };
        var lpips = new Option<string?>("--lpips") { Description = "LPIPS weights (not supported in this port: no LPIPS network is included)." };
        var bf16 = new Option<bool>("--bf16") { Description = "bfloat16 forward/backward with fp32 master weights (CUDA only)." };
        var seed = new Option<long>("--seed") { Description = "Seed for weights, data and noise.", DefaultValueFactory = _ => 0 };
        var ckptEvery = new Option<int>("--checkpoint-every") { Description = "Steps between checkpoints.", DefaultValueFactory = _ => 100 };
        var logEvery = new Option<int>("--log-every") { Description = "Steps between progress lines.", DefaultValueFactory = _ => 10 };
        var threads = new Option<int?>("--threads") { Description = "Torch intra-op threads (default: torch's choice)." };
        var resume = new Option<bool>("--resume") { Description = "Require an existing checkpoint in the run folder (resuming is automatic when one exists)." };
        var device = CliSupport.DeviceOption();
        var quiet = CliSupport.QuietOption();
        var cmd = new Command("train", "Train (or resume) a WF-VAE with the official objective: L1 + KL + wavelet loss (+ optional 3D PatchGAN); AdamW, EMA, atomic resumable checkpoints.")
        {
            data, run, config, init, steps, until, batch, frames, size, lr, warmup, cosine, clip, ema, kl, wl, mse, gan, discStart, discWeight, lpips, bf16, seed, ckptEvery, logEvery, threads, resume, device, quiet,
        };
        // A second signal kills the process; the checkpoint swap is atomic and the next run sweeps its temporary folder.
        cmd.SetAction(r => CliSupport.Run(ct =>
        {
            CliSupport.ApplyThreads(r.GetValue(threads));
            string runDir = r.GetValue(run)!;
            bool quietRun = r.GetValue(quiet);
            var dev = WfVaeModel.ParseDevice(r.GetValue(device)!);
            var dataset = VideoClipDataset.FromFolder(r.GetValue(data)!, path => TrainingVideos.Read(path));
            CliSupport.RemoveStaleTemporaries(runDir);
            _ = dataset.PreloadAsync(ct);
            try
            {
                WfVaeTrainer trainer;
                if (WfVaeTrainer.HasCheckpoint(runDir))
                {
                    trainer = WfVaeTrainer.Resume(runDir, o => o with
                    {
                        Steps = r.GetValue(steps) ?? o.Steps,
                        LearningRate = r.GetValue(lr) ?? o.LearningRate,
                        MseWeight = r.GetValue(mse) ?? o.MseWeight,
                        CheckpointEvery = r.GetValue(ckptEvery),
                        LogEvery = r.GetValue(logEvery),
                    }, dev);
                    Log(runDir, $"resuming {Path.GetFullPath(runDir)} at step {trainer.Step}/{trainer.Options.Steps}" +
                        (trainer.Options.MseWeight > 0 ? $" (reconstruction: L1 + {trainer.Options.MseWeight.ToString(CultureInfo.InvariantCulture)}·squared error)" : ""));
                }
                else
                {
                    if (r.GetValue(resume)) throw new InvalidOperationException($"--resume: '{runDir}' has no checkpoint to resume.");
                    var options = new TrainingOptions
                    {
                        Steps = r.GetValue(steps) ?? 1000,
                        BatchSize = r.GetValue(batch),
                        Frames = r.GetValue(frames),
                        Size = r.GetValue(size),
                        LearningRate = r.GetValue(lr) ?? 1e-4,
                        WarmupSteps = r.GetValue(warmup),
                        Schedule = r.GetValue(cosine) ? LearningRateSchedule.Cosine : LearningRateSchedule.Constant,
                        GradientClipNorm = r.GetValue(clip),
                        EmaDecay = r.GetValue(ema),
                        KlWeight = r.GetValue(kl),
                        WaveletWeight = r.GetValue(wl),
                        MseWeight = r.GetValue(mse) ?? 0,
                        UseDiscriminator = r.GetValue(gan),
                        DiscriminatorStart = r.GetValue(discStart),
                        DiscriminatorWeight = r.GetValue(discWeight),
                        LpipsWeights = r.GetValue(lpips),
                        BFloat16 = r.GetValue(bf16),
                        Seed = r.GetValue(seed),
                        CheckpointEvery = r.GetValue(ckptEvery),
                        LogEvery = r.GetValue(logEvery),
                    };
                    options.Validate();
                    if (r.GetValue(init) is { } initDir)
                        trainer = WfVaeTrainer.FromModel(runDir, initDir, options, dev);
                    else
                        trainer = WfVaeTrainer.CreateNew(runDir, r.GetValue(config) is { } cfg ? WfVaeConfig.Load(cfg) : SmallConfig, options, dev);
                    Log(runDir, $"new run {Path.GetFullPath(runDir)}: {trainer.Model.ParameterCount:N0} parameters, {dataset.Paths.Count} videos, " +
                        $"batch {options.BatchSize}×{options.Frames}×{options.Size}², lr {options.LearningRate:g3}, {options.Steps} steps, threads {torch.get_num_threads()}");
                }
                using (trainer)
                {
                    // --quiet: step lines still go to train.log, not to the console.
                    var summary = trainer.Train(dataset, p => Log(runDir, Format(p), toConsole: !quietRun), ct, stopAtStep: r.GetValue(until));
                    if (!WfVaeTrainer.HasCheckpoint(runDir))
                    {
                        Log(runDir, summary.Cancelled
                            ? $"cancelled at step {summary.EndStep}, before any step finished: no checkpoint was written"
                            : $"no steps to run (--steps {trainer.Options.Steps}{(r.GetValue(until) is long u ? $", --until {u}" : "")}): no checkpoint was written");
                        return summary.Cancelled ? 130 : 0;
                    }
                    Log(runDir, summary.Cancelled
                        ? $"cancelled at step {summary.EndStep}; checkpoint {summary.CheckpointDirectory} (rerun the same command to resume)"
                        : summary.EndStep < trainer.Options.Steps ? $"stopped at step {summary.EndStep} (--until) after {summary.Elapsed.TotalMinutes:F1} min of training; checkpoint {summary.CheckpointDirectory}"
                        : $"finished step {summary.EndStep} in {summary.Elapsed.TotalMinutes:F1} min of training; checkpoint {summary.CheckpointDirectory}");
                    return summary.Cancelled ? 130 : 0;
                }
            }
            catch (Exception e) when (e is ArgumentException or NotSupportedException && e.Message.Contains("TrainingOptions.", StringComparison.Ordinal))
            {
                string message = InCliTerms(e.Message);
                throw e is NotSupportedException ? new NotSupportedException(message, e) : new ArgumentException(message, e);
            }
        }, signal => Log(r.GetValue(run)!, $"{signal}: finishing the current step and writing a checkpoint (send it again to abort)")));
        return cmd;
    }

    /// <summary>The flag of each <see cref="TrainingOptions"/> property that the library names in its messages.</summary>
    private static readonly Dictionary<string, string> OptionFlags = new(StringComparer.Ordinal)
    {
        ["Steps"] = "--steps", ["BatchSize"] = "--batch", ["Frames"] = "--frames", ["Size"] = "--size", ["LearningRate"] = "--lr",
        ["WarmupSteps"] = "--warmup", ["GradientClipNorm"] = "--clip-grad", ["EmaDecay"] = "--ema-decay", ["KlWeight"] = "--kl-weight",
        ["WaveletWeight"] = "--wavelet-weight", ["MseWeight"] = "--mse-weight", ["UseDiscriminator"] = "--gan",
        ["DiscriminatorStart"] = "--disc-start", ["DiscriminatorWeight"] = "--disc-weight", ["LpipsWeights"] = "--lpips",
        ["BFloat16"] = "--bf16", ["Seed"] = "--seed", ["CheckpointEvery"] = "--checkpoint-every", ["LogEvery"] = "--log-every",
    };

    /// <summary>A library message with <c>TrainingOptions.X</c> replaced by the flag that sets X (when there is one).</summary>
    internal static string InCliTerms(string message) =>
        Regex.Replace(message, @"TrainingOptions\.(\w+)", m => OptionFlags.TryGetValue(m.Groups[1].Value, out var flag) ? flag : m.Value);

    public static Command CreateExport()
    {
        var run = new Option<string>("--run") { Description = "Run folder written by wfvae train.", Required = true };
        var output = new Option<string>("--out", "-o") { Description = "Model folder to write (config.json + diffusion_pytorch_model.safetensors).", Required = true };
        var ema = new Option<bool>("--ema") { Description = "Export the EMA weights (recommended) instead of the raw weights." };
        var fp16 = new Option<bool>("--fp16") { Description = "Store weights as float16 (half the size; loaded back as fp32)." };
        var force = new Option<bool>("--force") { Description = "Replace --out when it already exists and is not empty." };
        var cmd = new Command("export", "Write a model folder from a training run's checkpoint.") { run, output, ema, fp16, force };
        cmd.SetAction(r => CliSupport.Run(() =>
        {
            string outDir = r.GetValue(output)!;
            if (File.Exists(outDir)) throw new IOException($"--out '{Path.GetFullPath(outDir)}' is a file; give a folder for the model.");
            if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any() && !r.GetValue(force))
                throw new IOException($"--out '{Path.GetFullPath(outDir)}' already exists and is not empty; pass --force to replace it, or choose another folder.");
            string? parent = Path.GetDirectoryName(Path.GetFullPath(outDir));
            if (parent is not null) CliSupport.RemoveStaleTemporaries(parent);
            long step = 0;
            // The whole folder is swapped in at once: --force leaves none of the old folder's files, a failure none of the new.
            WfVae.Files.AtomicFileWriter.WriteDirectory(outDir, temp => step = WfVaeTrainer.Export(r.GetValue(run)!, temp, r.GetValue(ema),
                r.GetValue(fp16) ? ScalarType.Float16 : ScalarType.Float32, new Dictionary<string, string> { ["producer"] = "wfvae export" }));
            using var check = WfVaeModel.Load(outDir);
            Console.WriteLine($"exported step {step} ({(r.GetValue(ema) ? "EMA" : "raw")} weights, {check.ParameterCount:N0} parameters) -> {Path.GetFullPath(outDir)}");
            return 0;
        }));
        return cmd;
    }

    private static string Format(TrainingProgress p)
    {
        var l = p.Last;
        var ci = CultureInfo.InvariantCulture;
        string s = string.Format(ci, "step {0}/{1} loss {2:F5} psnr {3:F2} dB (last: l1 {4:F4}{12} kl {5:G4} wl {6:G4}{7}) lr {8:G3} |g| {9:F3} {10} elapsed {11:hh\\:mm\\:ss}",
            l.Step, p.TotalSteps, p.MeanLoss, p.MeanPsnr, l.L1, l.Kl, l.Wavelet,
            l.AdversarialWeight > 0 || l.DiscriminatorStep ? string.Format(ci, " g {0:F3}×{1:G3} d {2:F3}", l.GeneratorAdversarial, l.AdversarialWeight, l.DiscriminatorLoss) : "",
            l.LearningRate, l.GradNorm, double.IsNaN(p.SecondsPerStep) ? "" : string.Format(ci, "{0:F2} s/step", p.SecondsPerStep), p.Elapsed,
            string.Format(ci, " mse {0:F5}", l.Mse));
        if (!l.Applied) s += " [non-finite: update skipped]";
        if (p.CheckpointWritten is not null) s += " [checkpoint]";
        return s;
    }

    private static readonly Lock LogLock = new();

    private static void Log(string runDir, string line, bool toConsole = true)
    {
        string stamped = $"{DateTime.Now:HH:mm:ss} {line}";
        lock (LogLock)
        {
            if (toConsole) Console.WriteLine(stamped);
            try
            {
                Directory.CreateDirectory(runDir);
                File.AppendAllText(Path.Combine(runDir, "train.log"), stamped + Environment.NewLine);
            }
            catch (IOException) { }
        }
    }
}
