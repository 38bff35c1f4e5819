using WfVae.Training;

namespace WfVae.MLNet;

/// <summary>
/// Fine-tuning of the <c>WfVaeEncode</c> stage's model on the videos of the fitted data: set
/// <see cref="WfVaeEncoderOptions.FineTuning"/> and <see cref="WfVaeEncodingEstimator.Fit"/> trains the model with
/// <see cref="WfVaeTrainer"/> (the official WF-VAE objective) on the video files of the input column, writes the fine-tuned
/// model folder to <see cref="OutputModelDirectory"/> and returns a transformer that encodes with the fine-tuned weights.
/// All values are checked by <see cref="Validate"/>, which the estimator calls.
/// </summary>
/// <remarks>
/// <para>Training state lives in <see cref="RunDirectory"/> (default <c>&lt;OutputModelDirectory&gt;.run</c>): when it already
/// holds a checkpoint, <c>Fit</c> resumes that run, up to <see cref="TrainingOptions.Steps"/> of <see cref="Training"/> (a run that
/// already reached it is only exported again). The folder is kept after <c>Fit</c>, so a later <c>Fit</c> with more steps
/// continues it; delete it to start over.</para>
/// <para>Cancelling <see cref="CancellationToken"/> stops after the current step, leaves a checkpoint in
/// <see cref="RunDirectory"/>, writes no model folder and makes <c>Fit</c> throw <see cref="OperationCanceledException"/>.</para>
/// </remarks>
public sealed record WfVaeFineTuningOptions
{
    /// <summary>Suffix of the default <see cref="RunDirectory"/>: <c>&lt;OutputModelDirectory&gt;.run</c>.</summary>
    public const string DefaultRunDirectorySuffix = ".run";

    /// <summary>
    /// Training defaults for fine-tuning a trained model (rather than training from scratch): 200 steps of one 9-frame 64×64
    /// clip at learning rate 2e-5 (the official fine-tuning rate is 1e-5 at batch 8) after 10 warm-up steps, a checkpoint every
    /// 50 steps, and otherwise the official objective of <see cref="TrainingOptions"/> (L1 + KL + wavelet loss, AdamW, EMA, no GAN).
    /// </summary>
    public static TrainingOptions DefaultTraining { get; } = new()
    {
        Steps = 200,
        LearningRate = 2e-5,
        WarmupSteps = 10,
        CheckpointEvery = 50,
        LogEvery = 10,
    };

    /// <summary>
    /// Folder the fine-tuned model is written to (<c>config.json</c> + <c>diffusion_pytorch_model.safetensors</c>). It is written
    /// into a temporary sibling folder and then moved into place, so it is either absent or complete. It must not exist, or be
    /// empty, unless <see cref="Overwrite"/> is set.
    /// </summary>
    public required string OutputModelDirectory { get; init; }

    /// <summary>Replace an existing, non-empty <see cref="OutputModelDirectory"/> (only after training succeeded).</summary>
    public bool Overwrite { get; init; }

    /// <summary>
    /// Folder of the training run (checkpoints); null uses <c>&lt;OutputModelDirectory&gt;.run</c>. When it holds a checkpoint,
    /// <c>Fit</c> resumes it with the current <see cref="Training"/> options (whose discriminator and bf16 settings must match the run's).
    /// </summary>
    public string? RunDirectory { get; init; }

    /// <summary>Training hyper-parameters; defaults to <see cref="DefaultTraining"/>. <see cref="TrainingOptions.Steps"/> must be at least 1.</summary>
    public TrainingOptions Training { get; init; } = DefaultTraining;

    /// <summary>Export the EMA of the weights (default, smoother) rather than the raw weights of the last step.</summary>
    public bool UseEma { get; init; } = true;

    /// <summary>Store the fine-tuned weights as float16 (half the size; they are loaded back as float32).</summary>
    public bool StoreFloat16 { get; init; }

    /// <summary>Receives a report every <see cref="TrainingOptions.LogEvery"/> steps and at every checkpoint, on the training thread.</summary>
    public IProgress<TrainingProgress>? Progress { get; init; }

    /// <summary>Stops training after the current step (see the remarks).</summary>
    public CancellationToken CancellationToken { get; init; }

    /// <summary>The full path of the run folder: <see cref="RunDirectory"/>, or <c>&lt;OutputModelDirectory&gt;.run</c>.</summary>
    public string ResolvedRunDirectory => Path.GetFullPath(RunDirectory ?? Path.TrimEndingDirectorySeparator(Path.GetFullPath(OutputModelDirectory)) + DefaultRunDirectorySuffix);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid option and what would be valid.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(OutputModelDirectory))
            throw new ArgumentException("WfVaeFineTuningOptions.OutputModelDirectory must be a folder path for the fine-tuned model.", nameof(OutputModelDirectory));
        if (RunDirectory is not null && string.IsNullOrWhiteSpace(RunDirectory))
            throw new ArgumentException("WfVaeFineTuningOptions.RunDirectory is empty; set a folder path or leave it null for '<OutputModelDirectory>.run'.", nameof(RunDirectory));
        if (Training is null)
            throw new ArgumentNullException(nameof(Training), "WfVaeFineTuningOptions.Training is null; leave it unset for WfVaeFineTuningOptions.DefaultTraining.");
        try
        {
            Training.Validate();
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"WfVaeFineTuningOptions.Training is invalid: {e.Message}", nameof(Training), e);
        }
        if (Training.Steps < 1)
            throw new ArgumentException($"WfVaeFineTuningOptions.Training.Steps must be >= 1 (it is the total step count of the run), got {Training.Steps}.", nameof(Training));
        string output = Path.TrimEndingDirectorySeparator(Path.GetFullPath(OutputModelDirectory));
        string run = Path.TrimEndingDirectorySeparator(ResolvedRunDirectory);
        if (SameOrInside(output, run) || SameOrInside(run, output))
            throw new ArgumentException($"WfVaeFineTuningOptions.RunDirectory '{run}' and OutputModelDirectory '{output}' must be separate folders, neither inside the other.", nameof(RunDirectory));
    }

    /// <summary>True when <paramref name="path"/> is <paramref name="folder"/> or lies inside it (full, trimmed paths).</summary>
    internal static bool SameOrInside(string path, string folder) =>
        string.Equals(path, folder, StringComparison.Ordinal) ||
        path.StartsWith(folder + Path.DirectorySeparatorChar, StringComparison.Ordinal);
}
