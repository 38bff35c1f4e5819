using System.CommandLine;
using System.Runtime.InteropServices;
using WfVae.Files;
using WfVae;
using static TorchSharp.torch;

namespace WfVae.Cli.Commands;

/// <summary>Options and error handling shared by the commands.</summary>
internal static class CliSupport
{
    public static Option<string?> ModelOption() => new("--model", "-m")
    {
        Description = "WF-VAE folder (config.json + diffusion_pytorch_model.safetensors). Default: the model shipped with wfvae.",
    };

    public static Option<string> DeviceOption() => new("--device")
    {
        Description = "cpu, cuda or cuda:N.",
        DefaultValueFactory = _ => "cpu",
    };

    public static Option<int?> ChunkFramesOption(string what) => new("--chunk-frames")
    {
        Description = what,
    };

    /// <summary>--chunk-frames for streaming encodes: absent = the model's default chunk, 0 = whole video, N = N frames (checked against the model).</summary>
    public static Chunking EncodeChunking(int? chunkFrames, WfVaeModel model)
    {
        var chunking = Chunking.FromCount(chunkFrames);
        if (chunking.Mode == ChunkingMode.Frames) model.ShapeRules.ValidateChunkFrames(chunking.Frames, "--chunk-frames", "--chunk-frames");
        return chunking;
    }

    public static Option<int?> TileOption() => new("--tile")
    {
        Description = "Spatial tiling: tile side in pixels (a multiple of 8, e.g. 256). Frames larger than a tile are encoded/decoded tile by tile, each with its own Causal Cache, blended across the overlaps: memory of one tile. Default: whole frames.",
    };

    public static Option<int?> TileOverlapOption() => new("--tile-overlap")
    {
        Description = "Overlap of neighbouring tiles in pixels (a multiple of 8, at most half a tile; default a quarter of the tile, 64 for 256).",
    };

    /// <summary>--tile/--tile-overlap as the model's tiling (checked against its spatial compression); no --tile leaves frames whole.</summary>
    public static SpatialTiling Tiling(int? tile, int? overlap, WfVaeModel model)
    {
        if (tile is not int size)
        {
            if (overlap is not null) throw new ArgumentException("--tile-overlap needs --tile (the tile side in pixels).");
            return SpatialTiling.Off;
        }
        int f = model.ShapeRules.SpatialFactor;
        return SpatialTiling.Always(size, overlap ?? size / 4 / f * f).Validated(f, "--tile/--tile-overlap");
    }

    /// <summary>Sets the model's tiling from --tile/--tile-overlap; returns the model.</summary>
    public static WfVaeModel ApplyTiling(WfVaeModel model, int? tile, int? overlap) =>
        model.WithInference(model.Inference with { Tiling = Tiling(tile, overlap, model) });

    public static Option<int?> ThreadsOption() => new("--threads")
    {
        Description = "Torch intra-op threads, at least 1 (default: torch's choice).",
    };

    /// <summary>Sets torch's intra-op threads; a value below 1 is an error here, not a native abort inside libtorch.</summary>
    public static void ApplyThreads(int? threads)
    {
        if (threads is not int n) return;
        if (n < 1 || n > 4096) throw new ArgumentException($"--threads must be between 1 and 4096, got {n}.");
        TorchSharp.torch.set_num_threads(n);
    }

    public static Option<bool> QuietOption() => new("--quiet", "-q")
    {
        Description = "No progress lines on stderr (results and errors are still printed).",
    };

    /// <summary>Where progress lines go: stderr, or nowhere with --quiet.</summary>
    public static TextWriter ProgressWriter(bool quiet) => quiet ? TextWriter.Null : Console.Error;

    /// <summary>
    /// Runs a command body that takes no cancellation (signals keep their default action and end it at once): a failure
    /// becomes one line on stderr and exit code 1.
    /// </summary>
    public static int Run(Func<int> body) => Run(_ => body(), onSignal: null, handleSignals: false);

    /// <summary>
    /// Runs a command body with a token that SIGINT (Ctrl+C) or SIGTERM cancels; a second signal ends the process at
    /// once. Exit codes: the body's; 130 (SIGINT) or 143 (SIGTERM) after a signal, with one line saying so; 1 with one
    /// line on stderr for any other failure.
    /// </summary>
    /// <param name="body">The command; it passes the token to everything long and writes outputs atomically.</param>
    /// <param name="onSignal">Called once at the first signal (e.g. to log that a checkpoint follows).</param>
    public static int Run(Func<CancellationToken, int> body, Action<PosixSignal>? onSignal = null) => Run(body, onSignal, handleSignals: true);

    private static int Run(Func<CancellationToken, int> body, Action<PosixSignal>? onSignal, bool handleSignals)
    {
        using var cts = new CancellationTokenSource();
        int received = 0; // the PosixSignal number, 0 while none
        void OnSignal(PosixSignalContext ctx)
        {
            if (Interlocked.CompareExchange(ref received, (int)ctx.Signal, 0) != 0) return; // second signal: the default action ends the process
            ctx.Cancel = true;
            onSignal?.Invoke(ctx.Signal);
            cts.Cancel();
        }
        using var sigint = handleSignals ? PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal) : null;
        using var sigterm = handleSignals ? PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal) : null;
        int SignalExit() => (PosixSignal)received == PosixSignal.SIGTERM ? 143 : 130;
        string SignalName() => (PosixSignal)received == PosixSignal.SIGTERM ? "SIGTERM" : "SIGINT";
        try
        {
            int code = body(cts.Token);
            return received != 0 && code != 0 ? SignalExit() : code;
        }
        catch (Exception) when (received != 0)
        {
            // After a signal any failure is the cancellation's (ffmpeg children get Ctrl+C too and stop first).
            Console.Error.WriteLine($"error: cancelled by {SignalName()}; the unfinished output was not written");
            return SignalExit();
        }
        catch (Exception e)
        {
            var inner = e is TypeInitializationException && e.InnerException is not null ? e.InnerException : e;
            Console.Error.WriteLine($"error: {OneLine(inner.Message)}");
            if (Environment.GetEnvironmentVariable("WFVAE_DEBUG") == "1") Console.Error.WriteLine(inner);
            return 1;
        }
    }

    /// <summary>
    /// A message as one line: libtorch's C++ stack trace ("Exception raised from …", multi-KB) cut off, line breaks
    /// joined. WFVAE_DEBUG=1 prints the whole exception.
    /// </summary>
    internal static string OneLine(string s)
    {
        foreach (var marker in new[] { "Exception raised from ", " frame #0: " })
        {
            int trace = s.IndexOf(marker, StringComparison.Ordinal);
            if (trace > 0) s = s[..trace];
        }
        return string.Join(" ", s.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }

    /// <summary>
    /// Before a command writes into a folder: deletes the temporary files and folders that interrupted wfvae runs
    /// (killed, power loss) left there, and only those whose writing process is gone; says so on stderr.
    /// </summary>
    public static void RemoveStaleTemporaries(string folder)
    {
        string full = Path.GetFullPath(folder);
        var removed = AtomicFileWriter.RemoveStaleTemporaries(full);
        if (removed.Count > 0)
            Console.Error.WriteLine($"removed {removed.Count} temporary file(s) left in {full} by an interrupted run: {string.Join(", ", removed.Select(Path.GetFileName))}");
    }

    /// <summary><see cref="RemoveStaleTemporaries(string)"/> in the folder of each output file.</summary>
    public static void RemoveStaleTemporariesBeside(params string?[] outputFiles)
    {
        foreach (var dir in outputFiles.OfType<string>().Select(f => Path.GetDirectoryName(Path.GetFullPath(f))).OfType<string>().Distinct(StringComparer.Ordinal))
            RemoveStaleTemporaries(dir);
    }

    /// <summary>The value given as an option or as its positional alias: exactly one of them, or a line saying what is missing.</summary>
    public static string OneOf(string? option, string? positional, string optionName, string what)
    {
        if (option is not null && positional is not null && option != positional)
            throw new ArgumentException($"{what} was given twice ('{positional}' and {optionName} '{option}'); give it once.");
        return option ?? positional ?? throw new ArgumentException($"{what} is required: {optionName} PATH.");
    }

    /// <summary>Throws unless <paramref name="path"/> is an existing file, saying when it is a folder.</summary>
    public static void RequireInputFile(string path, string what = "input")
    {
        if (File.Exists(path)) return;
        if (Directory.Exists(path)) throw new ArgumentException($"{what} '{path}' is a folder; give a video file.");
        throw new FileNotFoundException($"{what} '{path}' does not exist.", path);
    }

    /// <summary>Loads <paramref name="dir"/>, or the default shipped model when it is null.</summary>
    public static WfVaeModel LoadModel(string? dir, string device, WfVaeComponents components = WfVaeComponents.All)
    {
        var dev = WfVaeModel.ParseDevice(device);
        string path = dir ?? DefaultModel.Directory
            ?? throw new InvalidOperationException($"no --model given and no default model found ({DefaultModel.SearchDescription}); pass --model DIR with a WF-VAE folder (config.json + diffusion_pytorch_model.safetensors).");
        return WfVaeModel.Load(path, dev, components).WithInference(InferenceFromEnvironment());
    }

    /// <summary>
    /// The legacy measurement switches, mapped onto the inference options here (modules read no environment):
    /// WFVAE_WINOGRAD=0 turns Winograd off, =2 or =4 forces its tile; WFVAE_CONV_LAYOUT=cl|ncdhw forces a layout.
    /// </summary>
    public static WfVaeInferenceOptions InferenceFromEnvironment()
    {
        var o = WfVaeInferenceOptions.Default;
        switch (Environment.GetEnvironmentVariable("WFVAE_WINOGRAD"))
        {
            case "0": o = o with { Winograd = false }; break;
            case "2": o = o with { WinogradTile = 2 }; break;
            case "4": o = o with { WinogradTile = 4 }; break;
        }
        switch (Environment.GetEnvironmentVariable("WFVAE_CONV_LAYOUT")?.ToLowerInvariant())
        {
            case "cl": o = o with { ConvLayout = ConvLayout.ChannelsLast }; break;
            case "ncdhw": o = o with { ConvLayout = ConvLayout.Contiguous }; break;
        }
        return o;
    }

    /// <summary>Reads one named float tensor from a safetensors file, naming what the file holds on a miss.</summary>
    public static Tensor ReadTensor(string path, params string[] names)
    {
        using var r = new SafetensorsReader(path);
        foreach (var n in names)
            if (r.Entries.ContainsKey(n)) return r.Read(n).to(ScalarType.Float32);
        throw new InvalidDataException($"'{path}' has no tensor named {string.Join(" or ", names.Select(n => $"'{n}'"))}; it holds: {string.Join(", ", r.Entries.Keys)}.");
    }

    public static string Shape(Tensor t) => "[" + string.Join(",", t.shape) + "]";

    public static bool IsSafetensors(string path) => path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase);
}
