using System.Diagnostics;
using System.Globalization;
using SkiaSharp;
using WfVae.Tests.Training;
using WfVae.Tests.Video;
using static TorchSharp.torch;

namespace WfVae.Tests.Cli;

/// <summary>
/// The CLI shows its work and cleans up after itself: progress unless --quiet, the --report PNG, -i/-o everywhere, the
/// "wfvae" usage line, one-line messages, and signals that cancel with 130/143 leaving nothing behind.
/// </summary>
public sealed class CliWorkTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("wfvae-cli-work");
    private string P(string name) => Path.Combine(_dir, name);
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private string Clip(string name, int frames, int size = 32)
    {
        string path = P(name);
        Ffmpeg.Generate(path, ["-f", "lavfi", "-i", $"testsrc2=s={size}x{size}:r=8", "-frames:v", frames.ToString(CultureInfo.InvariantCulture), "-c:v", "libx264", "-pix_fmt", "yuv444p"]);
        return path;
    }

    private static string[] Lines(string s) => s.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static string[] Temporaries(string dir) =>
        Directory.Exists(dir) ? Directory.GetFileSystemEntries(dir).Select(Path.GetFileName).Where(n => n!.EndsWith(".tmp", StringComparison.Ordinal)).Select(n => n!).ToArray() : [];

    private static void AssertOneErrorLine(CliRunner.Result r, string expected)
    {
        Assert.NotEqual(0, r.ExitCode);
        var lines = Lines(r.StdErr);
        Assert.True(lines.Length == 1, $"expected one stderr line, got: {r.StdErr}");
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains(expected, lines[0]);
        Assert.True(lines[0].Length < 600, $"a {lines[0].Length}-character line: {lines[0]}");
    }

    [Fact]
    public void Long_commands_show_progress_unless_quiet()
    {
        string clip = Clip("in.mp4", 9);
        var loud = CliRunner.Run("reconstruct", "-i", clip, "-o", P("loud.mp4"), "--model", TestPaths.TinyModelDir);
        Assert.True(loud.ExitCode == 0, loud.StdErr);
        Assert.Matches(@"reconstruct: 9/9 frames, \d+\.\d\d frames/s", loud.StdErr);

        var quiet = CliRunner.Run("reconstruct", "-i", clip, "-o", P("quiet.mp4"), "--model", TestPaths.TinyModelDir, "--quiet");
        Assert.True(quiet.ExitCode == 0, quiet.StdErr);
        Assert.Equal("", quiet.StdErr);
        Assert.Contains("PSNR", quiet.StdOut);

        var encode = CliRunner.Run("encode", "-i", clip, "-o", P("z.safetensors"), "--model", TestPaths.TinyModelDir, "-q");
        Assert.True(encode.ExitCode == 0 && encode.StdErr == "", encode.StdErr);
        var decode = CliRunner.Run("decode", "-i", P("z.safetensors"), "-o", P("d.mp4"), "--model", TestPaths.TinyModelDir, "-q");
        Assert.True(decode.ExitCode == 0 && decode.StdErr == "", decode.StdErr);
        Assert.True(File.Exists(P("d.mp4")));

        Directory.CreateDirectory(P("videos"));
        File.Copy(clip, P("videos/a.mp4"));
        var dataset = CliRunner.Run("dataset", "encode", "--manifest", P("videos"), "-o", P("latents"), "--model", TestPaths.TinyModelDir,
            "--frames", "5", "--size", "32", "--quiet");
        Assert.True(dataset.ExitCode == 0 && dataset.StdErr == "", dataset.StdErr);
        Assert.Contains("1 clips ok", dataset.StdOut);
    }

    [Fact]
    public void Train_quiet_keeps_step_lines_in_the_log_only_and_zero_steps_claim_no_checkpoint()
    {
        Directory.CreateDirectory(P("videos"));
        Clip("videos/a.mp4", 9, 24);
        File.WriteAllText(P("config.json"), TrainerTests.TinyConfig.ToJson());
        string[] Args(string run, int steps) =>
            ["train", "--data", P("videos"), "--out", P(run), "--config", P("config.json"), "--frames", "5", "--size", "16", "--threads", "1",
                "--log-every", "1", "--steps", steps.ToString(CultureInfo.InvariantCulture)];

        var quiet = CliRunner.Run([.. Args("run", 2), "--quiet"]);
        Assert.True(quiet.ExitCode == 0, quiet.StdErr + quiet.StdOut);
        Assert.DoesNotContain("step 1/2", quiet.StdOut);
        Assert.Contains("finished step 2", quiet.StdOut);
        Assert.Contains("step 1/2", File.ReadAllText(P("run/train.log")));

        var zero = CliRunner.Run(Args("zero", 0));
        Assert.True(zero.ExitCode == 0, zero.StdErr + zero.StdOut);
        Assert.Contains("no steps to run (--steps 0): no checkpoint was written", zero.StdOut);
        Assert.DoesNotContain("; checkpoint ", zero.StdOut);
        Assert.False(Directory.Exists(P("zero/checkpoint")));

        // export refuses to overwrite a model folder unless --force.
        Directory.CreateDirectory(P("model"));
        File.WriteAllText(P("model/keep.txt"), "mine");
        var refused = CliRunner.Run("export", "--run", P("run"), "--out", P("model"));
        AssertOneErrorLine(refused, "already exists and is not empty; pass --force");
        Assert.Equal("mine", File.ReadAllText(P("model/keep.txt")));
        var forced = CliRunner.Run("export", "--run", P("run"), "--out", P("model"), "--force");
        Assert.True(forced.ExitCode == 0, forced.StdErr);
        Assert.False(File.Exists(P("model/keep.txt")));
        Assert.True(File.Exists(P("model/config.json")));
    }

    [Fact]
    public void Reconstruct_takes_i_o_or_positional_paths_creates_folders_and_draws_the_report()
    {
        string clip = Clip("in.mp4", 9, 40);
        var r = CliRunner.Run("reconstruct", "-i", clip, "-o", P("new/videos/out.mp4"), "--model", TestPaths.TinyModelDir,
            "--report", P("reports/a/report.png"), "--strip", P("strips/strip.png"), "-q");
        Assert.True(r.ExitCode == 0, r.StdErr);
        Assert.True(File.Exists(P("new/videos/out.mp4")) && File.Exists(P("strips/strip.png")));

        using (var report = SKBitmap.Decode(P("reports/a/report.png")))
        {
            Assert.NotNull(report);
            Assert.True(report.Width >= 720 && report.Height > 128 * 2 + 300, $"report is {report.Width}x{report.Height}");
            // The first input frame (testsrc2: coloured bars) is drawn below the title; the PSNR plot fills the bottom.
            int coloured = 0;
            for (int y = 80; y < 190; y++)
                for (int x = 20; x < 140; x++)
                    if (report.GetPixel(x, y) is var c && Math.Max(Math.Max(c.Red, c.Green), c.Blue) - Math.Min(Math.Min(c.Red, c.Green), c.Blue) > 60) coloured++;
            Assert.True(coloured > 120 * 110 / 4, $"only {coloured} coloured pixels where the first input frame should be");
        }

        var positional = CliRunner.Run("reconstruct", clip, P("positional/out.mp4"), "--model", TestPaths.TinyModelDir, "-q");
        Assert.True(positional.ExitCode == 0, positional.StdErr);
        Assert.True(File.Exists(P("positional/out.mp4")));

        AssertOneErrorLine(CliRunner.Run("reconstruct", clip, "-i", P("other.mp4"), "-o", P("x.mp4"), "--model", TestPaths.TinyModelDir), "given twice");
        AssertOneErrorLine(CliRunner.Run("reconstruct", "-o", P("x.mp4"), "--model", TestPaths.TinyModelDir), "--input (-i)");

        // The report path is checked before any work: a folder there fails at once and nothing is written.
        Directory.CreateDirectory(P("taken.png"));
        AssertOneErrorLine(CliRunner.Run("reconstruct", "-i", clip, "-o", P("late/out.mp4"), "--model", TestPaths.TinyModelDir, "--report", P("taken.png")), "is a folder");
        Assert.False(File.Exists(P("late/out.mp4")));
        AssertOneErrorLine(CliRunner.Run("reconstruct", "-i", clip, "-o", P("late/out.mp4"), "--model", TestPaths.TinyModelDir, "--report", P("r.jpg")), "must end in .png");
    }

    [Fact]
    public void Usage_says_wfvae()
    {
        var help = CliRunner.Run("--help");
        Assert.Equal(0, help.ExitCode);
        Assert.Contains("wfvae [command] [options]", help.StdOut);
        Assert.DoesNotContain("WfVae.Cli", help.StdOut);
        Assert.Contains("wfvae reconstruct [<input> [<output>]] [options]", CliRunner.Run("reconstruct", "--help").StdOut);
    }

    [Fact]
    public void Careless_inputs_give_one_line_naming_the_problem()
    {
        string model = TestPaths.TinyModelDir;
        using (var x = zeros(new long[] { 3, 9, 16, 16 })) SafetensorsWriter.Write(P("rank4.safetensors"), [new("video", x)]);
        AssertOneErrorLine(CliRunner.Run("encode", "-i", P("rank4.safetensors"), "-o", P("z.safetensors"), "--model", model), "must be 5-D (B, C, T, H, W), got shape [3,9,16,16]");
        using (var x = zeros(new long[] { 0, 3, 9, 16, 16 })) SafetensorsWriter.Write(P("batch0.safetensors"), [new("video", x)]);
        AssertOneErrorLine(CliRunner.Run("encode", "-i", P("batch0.safetensors"), "-o", P("z.safetensors"), "--model", model), "batch size 0");
        using (var x = zeros(new long[] { 1, 3, 0, 16, 16 })) SafetensorsWriter.Write(P("t0.safetensors"), [new("video", x)]);
        AssertOneErrorLine(CliRunner.Run("encode", "-i", P("t0.safetensors"), "-o", P("z.safetensors"), "--model", model, "--pad"), "has no frames or pixels to pad from");
        using (var z = zeros(new long[] { 1, 16, 0, 2, 2 })) SafetensorsWriter.Write(P("zt0.safetensors"), [new("latent_mean", z)]);
        AssertOneErrorLine(CliRunner.Run("decode", "-i", P("zt0.safetensors"), "-o", P("v.mp4"), "--model", model), "has no frames (t = 0)");
        Directory.CreateDirectory(P("a folder"));
        AssertOneErrorLine(CliRunner.Run("reconstruct", "-i", P("a folder"), "-o", P("v.mp4"), "--model", model), "is a folder; give a video file");
        AssertOneErrorLine(CliRunner.Run("encode", "-i", P("a folder"), "-o", P("z.safetensors"), "--model", model), "is a folder; give a video file");
        Assert.Empty(Directory.GetFiles(_dir, "*.mp4").Concat(Directory.GetFiles(_dir, "z.safetensors")));
    }

    /// <summary>Starts the CLI and waits until it runs an ffmpeg child: it is inside its streaming work, past start-up.</summary>
    private static Process StartUntilFfmpegRuns(List<string> stderr, params string[] args)
    {
        var p = CliRunner.Start(args);
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.Add(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (!HasFfmpegChild(p.Id))
        {
            Assert.False(p.HasExited, $"wfvae exited early ({(p.HasExited ? p.ExitCode : 0)}): {string.Join('\n', stderr)}");
            Assert.True(DateTime.UtcNow < deadline, "wfvae started no ffmpeg within 2 minutes");
            Thread.Sleep(20);
        }
        return p;
    }

    private static bool HasFfmpegChild(int pid)
    {
        try
        {
            foreach (var task in Directory.GetDirectories($"/proc/{pid}/task"))
                foreach (var child in File.ReadAllText(Path.Combine(task, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries))
                    if (File.ReadAllText($"/proc/{child}/comm").Trim() == "ffmpeg") return true;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return false;
    }

    private static void Signal(Process p, string signal)
    {
        Posix.Send(p.Id, signal);
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(1)), $"wfvae did not stop within a minute of SIG{signal}");
        p.WaitForExit(); // drains the redirected streams
    }

    [Theory]
    [InlineData("INT", 130)]
    [InlineData("TERM", 143)]
    public void A_signal_cancels_with_one_line_and_leaves_no_output(string signal, int exitCode)
    {
        string clip = Clip("long.mp4", 129, 64);
        var stderr = new List<string>();
        using (var p = StartUntilFfmpegRuns(stderr, "reconstruct", "-i", clip, "-o", P("out/r.mp4"), "--model", TestPaths.TinyModelDir,
                   "--chunk-frames", "4", "--strip", P("out/s.png"), "--report", P("out/r.png"), "-q"))
        {
            Signal(p, signal);
            Assert.Equal(exitCode, p.ExitCode);
        }
        Assert.Equal([$"error: cancelled by SIG{signal}; the unfinished output was not written"], stderr);
        Assert.Empty(Directory.GetFileSystemEntries(P("out")));

        stderr.Clear();
        using (var p = StartUntilFfmpegRuns(stderr, "encode", "-i", clip, "-o", P("enc/z.safetensors"), "--model", TestPaths.TinyModelDir, "--chunk-frames", "4", "-q"))
        {
            Signal(p, signal);
            Assert.Equal(exitCode, p.ExitCode);
        }
        Assert.Equal([$"error: cancelled by SIG{signal}; the unfinished output was not written"], stderr);
        Assert.False(Directory.Exists(P("enc")) && Directory.GetFileSystemEntries(P("enc")).Length > 0);
    }

    [Fact]
    public void A_killed_run_leaves_a_recognisable_temporary_that_the_next_run_into_the_folder_removes()
    {
        string clip = Clip("long.mp4", 129, 64);
        var stderr = new List<string>();
        using (var p = StartUntilFfmpegRuns(stderr, "reconstruct", "-i", clip, "-o", P("out/r.mp4"), "--model", TestPaths.TinyModelDir, "--chunk-frames", "4", "-q"))
        {
            var deadline = DateTime.UtcNow.AddMinutes(2);
            while (Temporaries(P("out")).Length == 0)
            {
                Assert.False(p.HasExited, string.Join('\n', stderr));
                Assert.True(DateTime.UtcNow < deadline, "no temporary mp4 within 2 minutes");
                Thread.Sleep(20);
            }
            p.Kill(entireProcessTree: true); // SIGKILL: no cleanup possible
            p.WaitForExit();
        }
        string left = Assert.Single(Temporaries(P("out")));
        Assert.Matches(@"^\.r\.mp4\.[0-9a-f]{4}-\d+-[0-9a-f]{6}\.tmp$", left);
        Assert.False(File.Exists(P("out/r.mp4")));

        // A live writer's temporary in the same folder (another running process) must survive the sweep.
        string host = left.Split('.')[^2].Split('-')[0];
        using var live = Process.Start("sleep", "120")!;
        try
        {
            string liveTemp = P($"out/.other.mp4.{host}-{live.Id}-abcdef.tmp");
            File.WriteAllText(liveTemp, "being written by a live process");

            var again = CliRunner.Run("reconstruct", "-i", Clip("short.mp4", 5), "-o", P("out/r.mp4"), "--model", TestPaths.TinyModelDir, "-q");
            Assert.True(again.ExitCode == 0, again.StdErr);
            Assert.Contains($"removed 1 temporary file(s) left in {P("out")} by an interrupted run: {left}", again.StdErr);
            Assert.Equal([Path.GetFileName(liveTemp)], Temporaries(P("out")));
            Assert.True(File.Exists(P("out/r.mp4")));
        }
        finally
        {
            live.Kill();
            live.WaitForExit();
        }
    }

    [Fact]
    public void Train_on_SIGTERM_checkpoints_and_exits_143_and_sweeps_a_dead_runs_checkpoint_folder()
    {
        Directory.CreateDirectory(P("videos"));
        Clip("videos/a.mp4", 9, 24);
        File.WriteAllText(P("config.json"), TrainerTests.TinyConfig.ToJson());
        using var dead = Process.Start("true")!;
        dead.WaitForExit();
        // The host tag: the one a temporary of this machine carries (AtomicFileWriter names it), read from a real write.
        string? temp = null;
        WfVae.Files.AtomicFileWriter.WriteFileAt(P("probe"), t => { File.WriteAllText(t, "x"); temp = Path.GetFileName(t); });
        string host = temp!.Split('.')[^2].Split('-')[0];
        string stale = P($"run/.checkpoint.{host}-{dead.Id}-0a0b0c.tmp");
        Directory.CreateDirectory(stale);
        File.WriteAllText(Path.Combine(stale, "state.json"), "{}");

        var lines = new List<string>();
        using var p = CliRunner.Start("train", "--data", P("videos"), "--out", P("run"), "--config", P("config.json"), "--frames", "5", "--size", "16",
            "--threads", "1", "--log-every", "1", "--checkpoint-every", "1000", "--steps", "100000");
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (lines) lines.Add(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (lines) lines.Add(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (true)
        {
            lock (lines) if (lines.Any(l => l.Contains("step 2/100000", StringComparison.Ordinal))) break;
            Assert.False(p.HasExited, string.Join('\n', lines));
            Assert.True(DateTime.UtcNow < deadline, "no step 2 within 2 minutes");
            Thread.Sleep(50);
        }
        Signal(p, "TERM");
        Assert.Equal(143, p.ExitCode);
        string all;
        lock (lines) all = string.Join('\n', lines);
        Assert.Contains("removed 1 temporary file(s)", all);
        Assert.Contains("SIGTERM: finishing the current step and writing a checkpoint", all);
        Assert.Contains("cancelled at step", all);
        Assert.True(WfVae.Training.WfVaeTrainer.HasCheckpoint(P("run")));
        Assert.False(Directory.Exists(stale));
    }
}
