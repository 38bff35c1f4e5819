using System.CommandLine;
using System.Globalization;
using WfVae.Datasets;

namespace WfVae.Cli.Commands;

/// <summary><c>wfvae dataset encode</c>: a manifest of videos → a sharded, resumable latent dataset.</summary>
internal static class DatasetCommand
{
    public static Command Create() => new("dataset", "Encode video datasets into WF-VAE latent datasets.") { CreateEncode() };

    private static Command CreateEncode()
    {
        var manifest = new Option<string>("--manifest") { Description = "A folder of videos, or a .csv / .parquet file with a path column plus any columns to carry through.", Required = true };
        var output = new Option<string>("--out", "-o") { Description = "The latent dataset's folder (dataset.json, shards/, manifest.parquet).", Required = true };
        var model = CliSupport.ModelOption();
        var device = CliSupport.DeviceOption();
        var frames = new Option<int>("--frames") { Description = "Frames per clip (1 + 4k).", DefaultValueFactory = _ => 33 };
        var frameStep = new Option<int>("--frame-step") { Description = "Take every n-th source frame.", DefaultValueFactory = _ => 1 };
        var size = new Option<int?>("--size") { Description = "Cover-scale and centre-crop to SIZE×SIZE (a multiple of 8)." };
        var width = new Option<int?>("--width") { Description = "Frame width (with --height; a multiple of 8)." };
        var height = new Option<int?>("--height") { Description = "Frame height (with --width; a multiple of 8)." };
        var clipsPerVideo = new Option<int>("--clips-per-video") { Description = "Clips taken from each video.", DefaultValueFactory = _ => 1 };
        var clipStride = new Option<int?>("--clip-stride") { Description = "Source frames between clip starts (default: clips back to back)." };
        var clipsPerShard = new Option<int>("--clips-per-shard") { Description = "Clips per shard file.", DefaultValueFactory = _ => 256 };
        var dtype = new Option<string>("--dtype") { Description = "Latent storage: fp32, bf16 or fp16.", DefaultValueFactory = _ => "fp32" };
        var pathColumn = new Option<string>("--path-column") { Description = "The manifest column with video paths.", DefaultValueFactory = _ => "path" };
        var shardIndex = new Option<int?>("--shard-index") { Description = "This process's index among --shard-count (default: JOB_COMPLETION_INDEX, SLURM_ARRAY_TASK_ID or RANK, else 0)." };
        var shardCount = new Option<int?>("--shard-count") { Description = "Processes sharing the job (default: SLURM_ARRAY_TASK_COUNT or WORLD_SIZE, else 1)." };
        var threads = CliSupport.ThreadsOption();
        var cmd = new Command("encode", "Encode every clip of a manifest into latent shards with a Parquet manifest; resumable, exactly once, shardable across machines.")
        {
            manifest, output, model, device, frames, frameStep, size, width, height, clipsPerVideo, clipStride, clipsPerShard, dtype, pathColumn, shardIndex, shardCount, threads,
        };
        cmd.SetAction(r => CliSupport.Run(() =>
        {
            CliSupport.ApplyThreads(r.GetValue(threads));
            if (r.GetValue(size) is int s && (r.GetValue(width) is not null || r.GetValue(height) is not null))
                throw new ArgumentException($"give --size or --width/--height, not both (got --size {s}).");
            if ((r.GetValue(width) is null) != (r.GetValue(height) is null))
                throw new ArgumentException("--width and --height go together.");
            var settings = new DatasetSettings
            {
                Frames = r.GetValue(frames),
                FrameStep = r.GetValue(frameStep),
                Width = r.GetValue(size) ?? r.GetValue(width),
                Height = r.GetValue(size) ?? r.GetValue(height),
                ClipsPerVideo = r.GetValue(clipsPerVideo),
                ClipStride = r.GetValue(clipStride),
                ClipsPerShard = r.GetValue(clipsPerShard),
                LatentDType = DatasetSettings.ParseDType(r.GetValue(dtype)!),
                PathColumn = r.GetValue(pathColumn)!,
            };
            var (index, count, from) = StaticSharding.Resolve(r.GetValue(shardIndex), r.GetValue(shardCount), Environment.GetEnvironmentVariables());
            using var m = CliSupport.LoadModel(r.GetValue(model), r.GetValue(device)!, WfVaeComponents.Encoder);
            var options = new DatasetEncodeOptions { Manifest = r.GetValue(manifest)!, OutputDirectory = r.GetValue(output)!, Settings = settings, ShardIndex = index, ShardCount = count };
            if (count > 1) Console.Error.WriteLine($"shard {index} of {count} ({from})");
            using var progress = ProgressLine.Clips(Console.Error);
            var result = new DatasetEncoder(m).Run(options, progress, line => Console.Error.WriteLine(line), CliSupport.CancelOnCtrlC());
            progress.Finish();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{result.ClipsOk} clips ok, {result.ClipsFailed} failed; {result.ShardsWritten} shard(s) written, {result.ShardsSkipped} already committed, of {result.ShardsOwned} owned; {result.Elapsed.TotalSeconds:F1} s -> {Path.GetFullPath(options.OutputDirectory)}"));
            Console.WriteLine(result.ManifestWritten ? "every shard is committed: manifest.parquet written" : "manifest.parquet is written once every shard is committed");
            return 0;
        }));
        return cmd;
    }
}
