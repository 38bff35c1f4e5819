using System.Text.Json.Nodes;
using WfVae.Tests.Training;
using WfVae.Tests.Video;
using WfVae.Training;

namespace WfVae.Tests.Cli;

/// <summary><c>wfvae train</c> as a process: killed without warning, the same command resumes from the last checkpoint.</summary>
public sealed class TrainCliTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("wfvae-train-cli");
    private string P(string name) => Path.Combine(_dir, name);
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private static long CheckpointStep(string run) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(WfVaeTrainer.CheckpointDirectory(run), "state.json")))!["step"]!.GetValue<long>();

    /// <summary>The step a resume would start from, read while the trainer may be swapping its checkpoint folder (then the previous one is the backup, as resume finds it).</summary>
    private static long? ResumableStep(string run)
    {
        foreach (var dir in new[] { WfVaeTrainer.CheckpointDirectory(run), WfVaeTrainer.CheckpointBackupDirectory(run) })
        {
            try { return JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "state.json")))!["step"]!.GetValue<long>(); }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { }
        }
        return null;
    }

    private string[] TrainArgs(int steps) =>
        ["train", "--data", P("videos"), "--out", P("run"), "--config", P("config.json"), "--frames", "5", "--size", "16",
            "--lr", "1e-3", "--seed", "3", "--threads", "1", "--checkpoint-every", "2", "--log-every", "1", "--mse-weight", "1",
            "--steps", steps.ToString(System.Globalization.CultureInfo.InvariantCulture)];

    [Fact]
    public void Killed_train_resumes_from_its_last_checkpoint()
    {
        Directory.CreateDirectory(P("videos"));
        Ffmpeg.Generate(P("videos/a.mp4"), ["-f", "lavfi", "-i", "testsrc2=s=24x24:r=8", "-frames:v", "9", "-c:v", "libx264", "-pix_fmt", "yuv444p"]);
        Ffmpeg.Generate(P("videos/b.mp4"), ["-f", "lavfi", "-i", "mandelbrot=s=24x24:r=8", "-frames:v", "9", "-c:v", "libx264", "-pix_fmt", "yuv444p"]);
        File.WriteAllText(P("config.json"), TrainerTests.TinyConfig.ToJson());

        // A long run, killed (SIGKILL: no chance to checkpoint) once it has written a checkpoint past step 4.
        using (var p = CliRunner.Start(TrainArgs(100_000)))
        {
            p.OutputDataReceived += (_, _) => { };
            p.ErrorDataReceived += (_, _) => { };
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            var deadline = DateTime.UtcNow.AddMinutes(2);
            while (!(ResumableStep(P("run")) >= 4))
            {
                Assert.False(p.HasExited, $"wfvae train exited early with code {(p.HasExited ? p.ExitCode : 0)}");
                Assert.True(DateTime.UtcNow < deadline, "no checkpoint past step 4 within 2 minutes");
                Thread.Sleep(50);
            }
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
        }

        // Killed mid-swap, the previous checkpoint is the backup: resume takes it, so the expected step is read the same way.
        long killedAt = ResumableStep(P("run")) ?? -1;
        Assert.True(killedAt >= 4, $"no resumable checkpoint past step 4 after the kill (found step {killedAt})");
        long target = killedAt + 3;
        var resumed = CliRunner.Run(TrainArgs((int)target));
        Assert.True(resumed.ExitCode == 0, resumed.StdErr + resumed.StdOut);
        string log = File.ReadAllText(P("run/train.log"));
        Assert.Contains($"resuming {Path.GetFullPath(P("run"))} at step {killedAt}/{target}", log);
        Assert.Contains("L1 + 1·squared error", log);
        Assert.Equal(target, CheckpointStep(P("run")));
        using var model = WfVaeModel.Load(Path.Combine(WfVaeTrainer.CheckpointDirectory(P("run")), "model"));
        Assert.Equal(4, model.Config.LatentDim);
    }

    [Fact]
    public void Option_errors_name_the_flag_not_the_library_property()
    {
        Directory.CreateDirectory(P("clips"));
        File.WriteAllBytes(P("clips/a.mp4"), [0]); // never decoded: the options fail first
        var r = CliRunner.Run("train", "--data", P("clips"), "--out", P("bad-run"), "--frames", "8", "--threads", "1");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("--frames must be 1 + 4k", r.StdErr);
        Assert.DoesNotContain("TrainingOptions.", r.StdErr);
    }
}
