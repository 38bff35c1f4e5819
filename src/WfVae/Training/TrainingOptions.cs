using System.Text.Json;
using System.Text.Json.Serialization;

namespace WfVae.Training;

/// <summary>Learning-rate schedule after the linear warm-up.</summary>
public enum LearningRateSchedule
{
    /// <summary>Constant (the official train_ddp.py).</summary>
    Constant,
    /// <summary>Cosine decay from the peak to <see cref="TrainingOptions.MinLearningRateFraction"/> of it at the last step.</summary>
    Cosine,
}

/// <summary>
/// Hyper-parameters of <see cref="WfVaeTrainer"/>. Defaults follow the official objective (spec §7): L1 reconstruction,
/// KL weight 1e-6, wavelet (energy-flow) loss weight 0.1, AdamW (β = 0.9, 0.999, weight decay 1e-4), EMA 0.999,
/// discriminator weight 0.5; the GAN is off unless <see cref="UseDiscriminator"/> is set.
/// </summary>
/// <remarks>
/// Loss scale: the official reconstruction term is Σ|x − x̂| over pixels divided by the number of frames B·T; KL and
/// the wavelet loss are sums divided by B. With <see cref="NormalizeByPixels"/> (default) the whole objective is divided
/// by 3·H·W, so the reconstruction term reads as the mean absolute error per pixel and values are O(0.1). All terms are
/// scaled by the same constant, so the relative weights are exactly the official ones and, as Adam(W) is invariant to a
/// constant loss scale (up to ε), an official learning rate carries over unchanged; only <see cref="GradientClipNorm"/>
/// is measured on the scaled gradients.
/// </remarks>
public sealed record TrainingOptions
{
    /// <summary>Total optimisation steps (the run stops when the step counter reaches it).</summary>
    public int Steps { get; init; } = 1000;
    /// <summary>Clips per step.</summary>
    public int BatchSize { get; init; } = 1;
    /// <summary>Frames per clip, 1 + 4k (e.g. 9, 17, 25).</summary>
    public int Frames { get; init; } = 9;
    /// <summary>Square crop size in pixels, a multiple of 8.</summary>
    public int Size { get; init; } = 64;
    /// <summary>Probability of sampling frames with stride 2 (faster apparent motion) when the clip is long enough.</summary>
    public double Stride2Probability { get; init; } = 0.25;

    /// <summary>Peak learning rate.</summary>
    public double LearningRate { get; init; } = 1e-4;
    /// <summary>Linear warm-up steps.</summary>
    public int WarmupSteps { get; init; }
    /// <summary>Schedule after warm-up.</summary>
    public LearningRateSchedule Schedule { get; init; } = LearningRateSchedule.Constant;
    /// <summary>Final learning rate of the cosine schedule as a fraction of the peak.</summary>
    public double MinLearningRateFraction { get; init; } = 0.1;
    /// <summary>AdamW β1.</summary>
    public double Beta1 { get; init; } = 0.9;
    /// <summary>AdamW β2.</summary>
    public double Beta2 { get; init; } = 0.999;
    /// <summary>AdamW ε.</summary>
    public double Epsilon { get; init; } = 1e-8;
    /// <summary>Decoupled weight decay.</summary>
    public double WeightDecay { get; init; } = 1e-4;
    /// <summary>Global gradient-norm clip (on the scaled loss); null or ≤ 0 disables it.</summary>
    public double? GradientClipNorm { get; init; } = 1.0;

    /// <summary>EMA decay of the generator weights (0.999 official). The effective decay is min(decay, (1+s)/(10+s)).</summary>
    public double EmaDecay { get; init; } = 0.999;

    /// <summary>Weight of the KL term.</summary>
    public double KlWeight { get; init; } = 1e-6;
    /// <summary>Weight of the wavelet (energy-flow) L1 loss on (W2, Ŵ2) and (W3, Ŵ3).</summary>
    public double WaveletWeight { get; init; } = 0.1;
    /// <summary>
    /// Weight of an extra squared-error reconstruction term λ·Σ(x − x̂)²/(B·T), added to the official L1 term; 0 (the
    /// official objective) by default. PSNR measures squared error, which L1 alone under-weights on large errors.
    /// </summary>
    public double MseWeight { get; init; }
    /// <summary>Divide the whole objective by 3·H·W (see remarks).</summary>
    public bool NormalizeByPixels { get; init; } = true;
    /// <summary>Sample the posterior (official training) rather than using its mean.</summary>
    public bool SamplePosterior { get; init; } = true;

    /// <summary>Train the 3D PatchGAN discriminator and add the adversarial term from <see cref="DiscriminatorStart"/>.</summary>
    public bool UseDiscriminator { get; init; }
    /// <summary>First step with the adversarial term (official disc_start).</summary>
    public int DiscriminatorStart { get; init; }
    /// <summary>disc_weight multiplying the adaptive weight (argparse default 0.5).</summary>
    public double DiscriminatorWeight { get; init; } = 0.5;
    /// <summary>Discriminator learning rate; null uses <see cref="LearningRate"/>.</summary>
    public double? DiscriminatorLearningRate { get; init; }
    /// <summary>Width of the first discriminator layer (official 64).</summary>
    public int DiscriminatorChannels { get; init; } = 64;
    /// <summary>Number of strided discriminator layers (official 4 → 64/128/256/512 channels).</summary>
    public int DiscriminatorLayers { get; init; } = 4;

    /// <summary>LPIPS weights file; LPIPS is not available in this port (no weights can be downloaded here), so a non-null value is an error.</summary>
    public string? LpipsWeights { get; init; }

    /// <summary>Run forward/backward in bfloat16 with fp32 master weights (CUDA only; an error on CPU).</summary>
    public bool BFloat16 { get; init; }

    /// <summary>Seed for weights, data sampling and posterior noise; every step draws from (seed, step), so a resumed run sees the same data.</summary>
    public long Seed { get; init; }
    /// <summary>Write a checkpoint every this many steps (and at the end).</summary>
    public int CheckpointEvery { get; init; } = 100;
    /// <summary>Report progress every this many steps.</summary>
    public int LogEvery { get; init; } = 10;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid option.</summary>
    public void Validate()
    {
        if (Steps < 0) throw new ArgumentException($"TrainingOptions.Steps must be ≥ 0, got {Steps}.");
        if (BatchSize < 1) throw new ArgumentException($"TrainingOptions.BatchSize must be ≥ 1, got {BatchSize}.");
        if (Frames < 1 || (Frames - 1) % 4 != 0) throw new ArgumentException($"TrainingOptions.Frames must be 1 + 4k (e.g. 9, 17, 25), got {Frames}.");
        if (Size < 16 || Size % 8 != 0) throw new ArgumentException($"TrainingOptions.Size must be a multiple of 8 and at least 16, got {Size}.");
        if (!(LearningRate > 0)) throw new ArgumentException($"TrainingOptions.LearningRate must be > 0, got {LearningRate}.");
        if (WarmupSteps < 0) throw new ArgumentException($"TrainingOptions.WarmupSteps must be ≥ 0, got {WarmupSteps}.");
        if (EmaDecay < 0 || EmaDecay >= 1) throw new ArgumentException($"TrainingOptions.EmaDecay must be in [0, 1), got {EmaDecay}.");
        if (CheckpointEvery < 1) throw new ArgumentException($"TrainingOptions.CheckpointEvery must be ≥ 1, got {CheckpointEvery}.");
        if (LogEvery < 1) throw new ArgumentException($"TrainingOptions.LogEvery must be ≥ 1, got {LogEvery}.");
        if (!(MseWeight >= 0) || double.IsInfinity(MseWeight)) throw new ArgumentException($"TrainingOptions.MseWeight must be a finite number ≥ 0, got {MseWeight}.");
        if (DiscriminatorLayers < 1) throw new ArgumentException($"TrainingOptions.DiscriminatorLayers must be ≥ 1, got {DiscriminatorLayers}.");
        if (LpipsWeights is not null)
            throw new NotSupportedException("LPIPS is not available in this port: the VGG16 LPIPS network and its weights are not included and cannot be downloaded here; do not set TrainingOptions.LpipsWeights (the official objective with perceptual_weight 0).");
    }

    internal static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>Serialises these options (stored in checkpoints).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Reads options written by <see cref="ToJson"/>.</summary>
    public static TrainingOptions FromJson(string json) =>
        JsonSerializer.Deserialize<TrainingOptions>(json, Json) ?? throw new InvalidDataException("training options JSON is empty.");
}
