using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using WfVae.Pipeline;
using static TorchSharp.torch;

namespace WfVae.Datasets;

/// <summary>A dataset encoding job: where the videos are, where the latent dataset goes, how, and which shards this process owns.</summary>
public sealed record DatasetEncodeOptions
{
    /// <summary>A folder of videos, a CSV or a Parquet manifest.</summary>
    public required string Manifest { get; init; }
    /// <summary>The latent dataset's folder (created when missing).</summary>
    public required string OutputDirectory { get; init; }
    /// <summary>Frames, size, clips and storage; part of the dataset's identity.</summary>
    public DatasetSettings Settings { get; init; } = new();
    /// <summary>This process owns the shards s with s % <see cref="ShardCount"/> == ShardIndex.</summary>
    public int ShardIndex { get; init; }
    /// <summary>Processes sharing the job (static sharding); outputs do not depend on it.</summary>
    public int ShardCount { get; init; } = 1;
    /// <summary>Clips decoded ahead of the one being encoded.</summary>
    public int PrefetchClips { get; init; } = 2;
    /// <summary>Only these shards (of those owned), e.g. one shard per queued job; null for all owned.</summary>
    public IReadOnlySet<int>? Shards { get; init; }
}

/// <summary>Progress of a dataset job: clips done of those this process owns, and the rate.</summary>
public sealed record DatasetProgress(long ClipsDone, long ClipsTotal, long ClipsFailed, int ShardsDone, int ShardsTotal, TimeSpan Elapsed, long ClipsEncodedNow)
{
    /// <summary>Clips encoded per second in this run (skipped, already committed shards excluded).</summary>
    public double ClipsPerSecond => Elapsed.TotalSeconds > 0 ? ClipsEncodedNow / Elapsed.TotalSeconds : 0;
    /// <summary>Time left at the current rate, when known.</summary>
    public TimeSpan? Eta => ClipsPerSecond > 0 ? TimeSpan.FromSeconds((ClipsTotal - ClipsDone) / ClipsPerSecond) : null;
}

/// <summary>A dataset's shards as planned from its manifest and settings, and which of them carry a commit marker.</summary>
public sealed record DatasetPlan(int ShardCount, long ClipCount, IReadOnlyList<int> Committed)
{
    /// <summary>Shards without a commit marker (a marker is verified against its checksums when the shard's job runs).</summary>
    public IEnumerable<int> Uncommitted => Enumerable.Range(0, ShardCount).Except(Committed);
}

/// <summary>What a dataset job did.</summary>
public sealed record DatasetEncodeResult(int ShardsOwned, int ShardsSkipped, int ShardsWritten, long ClipsOk, long ClipsFailed, bool ManifestWritten, TimeSpan Elapsed);

/// <summary>
/// Encodes a manifest of videos into a latent dataset: shards of N clips in manifest order (ids independent of how
/// many processes share the job), each written to temporary names, renamed, then committed by a marker carrying its
/// checksums; a restart verifies committed shards and redoes the rest. A clip that fails is a failed row with its error.
/// </summary>
public sealed class DatasetEncoder
{
    private readonly WfVaeModel _model;
    private readonly VideoPipeline _pipeline;

    /// <param name="model">The model (not owned).</param>
    /// <param name="streaming">Chunking of each clip's encode; null for the defaults.</param>
    public DatasetEncoder(WfVaeModel model, StreamingOptions? streaming = null)
    {
        _model = model ?? throw new ArgumentNullException(nameof(model));
        _pipeline = new VideoPipeline(model, streaming);
    }

    /// <summary>Runs the job for the shards this process owns; writes the dataset manifest once every shard is committed.</summary>
    /// <param name="options">The job.</param>
    /// <param name="progress">Clip-level progress.</param>
    /// <param name="log">Lines worth telling a person (skipped and redone shards).</param>
    /// <param name="ct">Stops after the clip being encoded; committed shards stay, the current one is not written.</param>
    public DatasetEncodeResult Run(DatasetEncodeOptions options, IProgress<DatasetProgress>? progress = null, Action<string>? log = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var settings = options.Settings;
        settings.Validate(_model.ShapeRules);
        if (options.ShardCount < 1) throw new ArgumentOutOfRangeException(nameof(options), options.ShardCount, "the shard count must be at least 1.");
        if (options.ShardIndex < 0 || options.ShardIndex >= options.ShardCount)
            throw new ArgumentOutOfRangeException(nameof(options), options.ShardIndex, $"the shard index must be in [0, {options.ShardCount - 1}] for a shard count of {options.ShardCount}.");
        var clock = Stopwatch.StartNew();
        var (manifest, layout, plan) = Open(options);

        var owned = Enumerable.Range(0, plan.ShardCount)
            .Where(s => s % options.ShardCount == options.ShardIndex && (options.Shards is null || options.Shards.Contains(s))).ToList();
        var pending = new List<int>();
        long done = 0, failed = 0, total = owned.Sum(s => (long)plan.ClipsIn(s).Count);
        int shardsDone = 0;
        foreach (int s in owned)
        {
            string? problem = layout.VerifyCommit(s);
            if (problem is null)
            {
                var (records, _) = ClipManifestFile.Read(layout.ShardManifest(s));
                done += records.Count;
                failed += records.Count(r => r.Status == ClipRecord.Failed);
                shardsDone++;
                continue;
            }
            if (File.Exists(layout.Commit(s))) log?.Invoke($"shard {s}: {problem}; encoding it again.");
            // This process owns the shard, so temporary files of its outputs are left by a writer that died.
            int stale = layout.DeleteStaleTemporaries(s);
            if (stale > 0) log?.Invoke($"shard {s}: removed {stale} temporary file(s) left by an interrupted writer.");
            pending.Add(s);
        }
        int skipped = shardsDone;
        long encodedNow = 0;
        progress?.Report(new DatasetProgress(done, total, failed, shardsDone, owned.Count, clock.Elapsed, 0));

        var clips = pending.SelectMany(plan.ClipsIn).ToList();
        var sources = clips.Select(c => plan.Source(c));
        var current = new ShardBuffer(-1);
        int next = 0;
        foreach (var result in _pipeline.EncodeClips(sources, options.PrefetchClips, ct))
        {
            var clip = clips[next++];
            if (clip.Shard != current.Shard) current = new ShardBuffer(clip.Shard);
            var record = current.Add(clip, result, plan, settings);
            encodedNow++;
            done++;
            if (record.Status == ClipRecord.Failed) failed++;
            if (current.Count == plan.ClipsIn(clip.Shard).Count)
            {
                ct.ThrowIfCancellationRequested();
                current.Write(layout, manifest.CarriedColumns);
                current.Dispose();
                shardsDone++;
            }
            progress?.Report(new DatasetProgress(done, total, failed, shardsDone, owned.Count, clock.Elapsed, encodedNow));
        }
        current.Dispose();
        bool manifestWritten = TryWriteDatasetManifest(layout, plan, manifest.CarriedColumns);
        return new DatasetEncodeResult(owned.Count, skipped, shardsDone - skipped, done - failed, failed, manifestWritten, clock.Elapsed);
    }

    /// <summary>
    /// Plans the shards of <paramref name="options"/> without encoding: validates the settings for the model, writes the
    /// dataset record (or refuses a folder made with other settings) and lists the shards already committed.
    /// </summary>
    public DatasetPlan Prepare(DatasetEncodeOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Settings.Validate(_model.ShapeRules);
        var (_, layout, plan) = Open(options);
        return new DatasetPlan(plan.ShardCount, plan.ClipCount, Enumerable.Range(0, plan.ShardCount).Where(s => File.Exists(layout.Commit(s))).ToList());
    }

    /// <summary>
    /// Writes <c>manifest.parquet</c> when every shard of the dataset is committed (no model needed, e.g. for a
    /// status command); returns the plan as it stands and whether the manifest exists now.
    /// </summary>
    public static (DatasetPlan Plan, bool ManifestWritten) TryComplete(DatasetEncodeOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var manifest = DatasetManifest.Load(options.Manifest, options.Settings.PathColumn);
        var layout = new DatasetLayout(options.OutputDirectory);
        var plan = new ClipPlan(manifest, options.Settings);
        var committed = Enumerable.Range(0, plan.ShardCount).Where(s => File.Exists(layout.Commit(s))).ToList();
        bool written = committed.Count == plan.ShardCount && TryWriteDatasetManifest(layout, plan, manifest.CarriedColumns);
        return (new DatasetPlan(plan.ShardCount, plan.ClipCount, committed), written);
    }

    private (DatasetManifest Manifest, DatasetLayout Layout, ClipPlan Plan) Open(DatasetEncodeOptions options)
    {
        var manifest = DatasetManifest.Load(options.Manifest, options.Settings.PathColumn);
        var layout = new DatasetLayout(options.OutputDirectory);
        Directory.CreateDirectory(layout.ShardFolder);
        var plan = new ClipPlan(manifest, options.Settings);
        DatasetRecord.WriteOrCheck(layout.Directory, DatasetRecord.Create(_model, options.Settings, manifest, plan.ClipCount, plan.ShardCount));
        return (manifest, layout, plan);
    }

    /// <summary>Writes <c>manifest.parquet</c> (every clip, in order) when every shard is committed; returns whether it exists now.</summary>
    private static bool TryWriteDatasetManifest(DatasetLayout layout, ClipPlan plan, IReadOnlyList<string> carried)
    {
        var records = new List<ClipRecord>((int)Math.Min(plan.ClipCount, int.MaxValue));
        for (int s = 0; s < plan.ShardCount; s++)
        {
            if (!File.Exists(layout.Commit(s))) return false;
            records.AddRange(ClipManifestFile.Read(layout.ShardManifest(s)).Records);
        }
        ClipManifestFile.Write(layout.Manifest, records, carried);
        return true;
    }

    /// <summary>The latents and rows of one shard while it is being encoded.</summary>
    private sealed class ShardBuffer(int shard) : IDisposable
    {
        private readonly List<KeyValuePair<string, Tensor>> _latents = [];
        private readonly List<ClipRecord> _records = [];
        public int Shard { get; } = shard;
        public int Count => _records.Count;

        public ClipRecord Add(PlannedClip clip, ClipEncoding result, ClipPlan plan, DatasetSettings settings)
        {
            var info = result.Info;
            var crop = info is null ? default : Video.VideoReader.GetCrop(info, result.Source.ReadOptions);
            string? error = result.Error is { } e ? Describe(e) : null;
            int[]? shape = null;
            if (result.Encoded is { } encoded)
            {
                // The model refuses non-finite latents itself, so a NaN clip arrives here as a failed result.
                using (encoded)
                {
                    var stored = encoded.Posterior.Mean.squeeze(0).to(settings.LatentDType).contiguous().DetachFromDisposeScope();
                    _latents.Add(new(clip.Id, stored));
                    shape = stored.shape.Select(d => (int)d).ToArray();
                }
            }
            var (h, w) = info is null ? (settings.Height, settings.Width) : (settings.Height ?? info.Height, settings.Width ?? info.Width);
            var record = new ClipRecord
            {
                ClipId = clip.Id,
                SourcePath = clip.Row.Path,
                ClipIndex = clip.Index,
                StartFrame = clip.StartFrame,
                FrameCount = settings.Frames,
                FrameStep = settings.FrameStep,
                Fps = info?.FrameRate ?? 0,
                SourceWidth = info?.Width,
                SourceHeight = info?.Height,
                ResizedWidth = info is null ? null : crop.ResizedWidth,
                ResizedHeight = info is null ? null : crop.ResizedHeight,
                CropX = info is null ? null : crop.CropX,
                CropY = info is null ? null : crop.CropY,
                Width = w,
                Height = h,
                LatentShape = error is null ? shape : null,
                LatentDType = settings.LatentDTypeName,
                ShardFile = DatasetLayout.ShardFileName(Shard),
                ShardKey = error is null ? clip.Id : null,
                Status = error is null ? ClipRecord.Ok : ClipRecord.Failed,
                Error = error,
                Carried = clip.Row.Carried,
            };
            _records.Add(record);
            return record;
        }

        public void Write(DatasetLayout layout, IReadOnlyList<string> carried)
        {
            var metadata = new Dictionary<string, string> { ["format"] = DatasetRecord.Format, ["shard"] = Shard.ToString(CultureInfo.InvariantCulture) };
            SafetensorsWriter.Write(layout.ShardTensors(Shard), _latents, metadata);
            ClipManifestFile.Write(layout.ShardManifest(Shard), _records, carried);
            layout.WriteCommit(Shard, _records.Count, _records.Count(r => r.Status == ClipRecord.Failed));
        }

        public void Dispose()
        {
            foreach (var (_, t) in _latents) t.Dispose();
            _latents.Clear();
        }

        private static string Describe(Exception e)
        {
            string message = e.Message.Split('\n')[0];
            return e is ArgumentException or Video.VideoIOException or InvalidDataException or ArithmeticException ? message : $"{e.GetType().Name}: {message}";
        }
    }
}

/// <summary>One clip of the plan: its id, video, index within the video, first source frame and shard.</summary>
internal sealed record PlannedClip(string Id, ManifestRow Row, int Index, int StartFrame, int Shard);

/// <summary>Clips in manifest order (K per video) and their shards: nothing here depends on how many processes run.</summary>
internal sealed class ClipPlan(DatasetManifest manifest, DatasetSettings settings)
{
    public long ClipCount { get; } = (long)manifest.Rows.Count * settings.ClipsPerVideo;
    public int ShardCount => (int)((ClipCount + settings.ClipsPerShard - 1) / settings.ClipsPerShard);

    public IReadOnlyList<PlannedClip> ClipsIn(int shard)
    {
        long first = (long)shard * settings.ClipsPerShard, end = Math.Min(ClipCount, first + settings.ClipsPerShard);
        var clips = new List<PlannedClip>((int)(end - first));
        for (long c = first; c < end; c++)
        {
            var row = manifest.Rows[(int)(c / settings.ClipsPerVideo)];
            int k = (int)(c % settings.ClipsPerVideo);
            clips.Add(new PlannedClip(ClipId(row.Row, k), row, k, checked(k * settings.EffectiveClipStride), shard));
        }
        return clips;
    }

    public VideoSource Source(PlannedClip clip) => new()
    {
        Path = clip.Row.Path,
        Width = settings.Width,
        Height = settings.Height,
        FrameStep = settings.FrameStep,
        StartFrame = clip.StartFrame,
        MaxFrames = settings.Frames,
        ExactFrameCount = true,
        Policy = ShapePolicy.Strict,
    };

    public static string ClipId(int row, int clip) => string.Create(CultureInfo.InvariantCulture, $"{row:D8}_{clip:D4}");
}

/// <summary>Where a latent dataset keeps its files, and shard commits (checksummed markers written last).</summary>
internal sealed class DatasetLayout(string directory)
{
    public string Directory { get; } = Path.GetFullPath(directory);
    public string ShardFolder => Path.Combine(Directory, "shards");
    public string Manifest => Path.Combine(Directory, "manifest.parquet");

    public static string ShardFileName(int shard) => string.Create(CultureInfo.InvariantCulture, $"shards/shard-{shard:D6}.safetensors");
    public string ShardTensors(int shard) => Path.Combine(Directory, ShardFileName(shard));
    public string ShardManifest(int shard) => Path.ChangeExtension(ShardTensors(shard), ".parquet");
    public string Commit(int shard) => Path.ChangeExtension(ShardTensors(shard), ".commit.json");

    public void WriteCommit(int shard, int clips, int failed)
    {
        var marker = new JsonObject
        {
            ["shard"] = shard,
            ["clips"] = clips,
            ["failed"] = failed,
            ["files"] = new JsonObject
            {
                [Path.GetFileName(ShardTensors(shard))] = FileEntry(ShardTensors(shard)),
                [Path.GetFileName(ShardManifest(shard))] = FileEntry(ShardManifest(shard)),
            },
        };
        Files.AtomicFileWriter.WriteAllText(Commit(shard), marker.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>Deletes the temporary siblings of the shard's files; only for the process that owns the shard.</summary>
    public int DeleteStaleTemporaries(int shard)
    {
        int n = 0;
        foreach (var file in new[] { ShardTensors(shard), ShardManifest(shard), Commit(shard) })
            foreach (var temp in Files.AtomicFileWriter.TemporarySiblingsOf(file))
            {
                if (System.IO.Directory.Exists(temp)) System.IO.Directory.Delete(temp, recursive: true);
                else File.Delete(temp);
                n++;
            }
        return n;
    }

    /// <summary>Null when the shard is committed and its files match the marker; otherwise what is wrong.</summary>
    public string? VerifyCommit(int shard)
    {
        string commit = Commit(shard);
        if (!File.Exists(commit)) return "not committed";
        JsonObject files;
        try { files = JsonNode.Parse(File.ReadAllText(commit))!["files"]!.AsObject(); }
        catch (Exception e) when (e is JsonException or NullReferenceException or InvalidOperationException) { return $"its commit marker '{commit}' is unreadable"; }
        foreach (var file in new[] { ShardTensors(shard), ShardManifest(shard) })
        {
            var want = files[Path.GetFileName(file)];
            if (want is null) return $"its commit marker does not list {Path.GetFileName(file)}";
            if (!File.Exists(file)) return $"{Path.GetFileName(file)} is missing";
            var have = FileEntry(file);
            if (have["bytes"]!.GetValue<long>() != want["bytes"]!.GetValue<long>() || have["sha256"]!.GetValue<string>() != want["sha256"]!.GetValue<string>())
                return $"{Path.GetFileName(file)} does not match the checksum in its commit marker";
        }
        return null;
    }

    private static JsonObject FileEntry(string path)
    {
        using var fs = File.OpenRead(path);
        return new JsonObject { ["bytes"] = fs.Length, ["sha256"] = Convert.ToHexStringLower(SHA256.HashData(fs)) };
    }
}
