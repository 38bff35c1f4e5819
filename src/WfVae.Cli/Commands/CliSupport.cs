using System.CommandLine;
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

    /// <summary>A token cancelled by the first Ctrl+C (the second one ends the process as usual).</summary>
    public static CancellationToken CancelOnCtrlC()
    {
        var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            if (cts.IsCancellationRequested) return;
            e.Cancel = true;
            cts.Cancel();
        };
        return cts.Token;
    }

    /// <summary>Runs a command body; any failure becomes one line on stderr and exit code 1.</summary>
    public static int Run(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("error: cancelled");
            return 130;
        }
        catch (Exception e)
        {
            var inner = e is TypeInitializationException && e.InnerException is not null ? e.InnerException : e;
            Console.Error.WriteLine($"error: {OneLine(inner.Message)}");
            if (Environment.GetEnvironmentVariable("WFVAE_DEBUG") == "1") Console.Error.WriteLine(inner);
            return 1;
        }
    }

    private static string OneLine(string s) => string.Join(" ", s.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

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
