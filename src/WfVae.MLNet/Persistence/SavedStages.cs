using System.Collections.Concurrent;
using System.ComponentModel;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace WfVae.MLNet.Persistence;

/// <summary>
/// Contract names of the CustomMapping factories that saved WF-VAE stages are rebuilt from. ML.NET stores the name and the
/// assembly in the model file and finds the factory again on load (registering this assembly itself).
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class WfVaeContracts
{
    /// <summary>The constant anchor column.</summary>
    public const string Anchor = "WfVae.MLNet.Anchor.v1";
    /// <summary>Encode a path column.</summary>
    public const string EncodePath = "WfVae.MLNet.EncodePath.v1";
    /// <summary>Encode a video vector column.</summary>
    public const string EncodeVideo = "WfVae.MLNet.EncodeVideo.v1";
    /// <summary>Decode a latent column.</summary>
    public const string Decode = "WfVae.MLNet.Decode.v1";
    /// <summary>Encode a path column, recording row errors.</summary>
    public const string EncodePathRecordingErrors = "WfVae.MLNet.EncodePath.RecordingErrors.v1";
    /// <summary>Encode a video vector column, recording row errors.</summary>
    public const string EncodeVideoRecordingErrors = "WfVae.MLNet.EncodeVideo.RecordingErrors.v1";
    /// <summary>Decode a latent column, recording row errors.</summary>
    public const string DecodeRecordingErrors = "WfVae.MLNet.Decode.RecordingErrors.v1";
    /// <summary>Cut one output out of the payload.</summary>
    public const string Slice = "WfVae.MLNet.Slice.v1";
}

/// <summary>Produces the constant anchor column (no inputs).</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
[CustomMappingFactoryAttribute(WfVaeContracts.Anchor)]
public sealed class AnchorFactory : CustomMappingFactory<NoColumns, AnchorRow>
{
    /// <inheritdoc/>
    public override Action<NoColumns, AnchorRow> GetMapping() => static (_, dst) => dst.Anchor = 0f;
}

/// <summary>Encodes the path of each row with the weights and plan recorded in the row's plan column.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
[CustomMappingFactoryAttribute(WfVaeContracts.EncodePath)]
public sealed class EncodePathFactory : CustomMappingFactory<PathRow, PayloadRow>
{
    /// <inheritdoc/>
    public override Action<PathRow, PayloadRow> GetMapping() => static (src, dst) =>
    {
        var stage = SavedRuntime.Stage(src.Plan);
        dst.Payload = SavedRuntime.Run(stage, EncodingMapping.Stage, src.Path,
            model => VideoEncoding.EncodePath(model, stage.Encode!, src.Path));
    };
}

/// <summary>Encodes the video vector of each row with the weights and plan recorded in the row's plan column.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
[CustomMappingFactoryAttribute(WfVaeContracts.EncodeVideo)]
public sealed class EncodeVideoFactory : CustomMappingFactory<VideoRow, PayloadRow>
{
    /// <inheritdoc/>
    public override Action<VideoRow, PayloadRow> GetMapping() => static (src, dst) =>
    {
        var stage = SavedRuntime.Stage(src.Plan);
        dst.Payload = SavedRuntime.Run(stage, EncodingMapping.Stage, null,
            model => VideoEncoding.EncodeVector(model, stage.Encode!, src.Video));
    };
}

/// <summary>Decodes the latent of each row with the weights and plan recorded in the row's plan column.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
[CustomMappingFactoryAttribute(WfVaeContracts.Decode)]
public sealed class DecodeFactory : CustomMappingFactory<LatentRow, PayloadRow>
{
    /// <inheritdoc/>
    public override Action<LatentRow, PayloadRow> GetMapping() => static (src, dst) =>
    {
        var stage = SavedRuntime.Stage(src.Plan);
        dst.Payload = SavedRuntime.Run(stage, DecodingMapping.Stage, null,
            model => VideoEncoding.Decode(model, stage.Decode!, src.Latent));
    };
}

/// <summary>Encodes the path of each row; a row that fails gets an empty payload and its error text.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
[CustomMappingFactoryAttribute(WfVaeContracts.EncodePathRecordingErrors)]
public sealed class EncodePathRecordingErrorsFactory : CustomMappingFactory<PathRow, PayloadErrorRow>
{
    /// <inheritdoc/>
    public override Action<PathRow, PayloadErrorRow> GetMapping() => static (src, dst) =>
    {
        var stage = SavedRuntime.Stage(src.Plan);
        (dst.Payload, dst.Error) = SavedRuntime.RunRecordingErrors(stage, EncodingMapping.Stage, src.Path,
            model => VideoEncoding.EncodePath(model, stage.Encode!, src.Path));
    };
}

/// <summary>Encodes the video vector of each row; a row that fails gets an empty payload and its error text.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
[CustomMappingFactoryAttribute(WfVaeContracts.EncodeVideoRecordingErrors)]
public sealed class EncodeVideoRecordingErrorsFactory : CustomMappingFactory<VideoRow, PayloadErrorRow>
{
    /// <inheritdoc/>
    public override Action<VideoRow, PayloadErrorRow> GetMapping() => static (src, dst) =>
    {
        var stage = SavedRuntime.Stage(src.Plan);
        (dst.Payload, dst.Error) = SavedRuntime.RunRecordingErrors(stage, EncodingMapping.Stage, null,
            model => VideoEncoding.EncodeVector(model, stage.Encode!, src.Video));
    };
}

/// <summary>Decodes the latent of each row; a row that fails gets an empty payload and its error text.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
[CustomMappingFactoryAttribute(WfVaeContracts.DecodeRecordingErrors)]
public sealed class DecodeRecordingErrorsFactory : CustomMappingFactory<LatentRow, PayloadErrorRow>
{
    /// <inheritdoc/>
    public override Action<LatentRow, PayloadErrorRow> GetMapping() => static (src, dst) =>
    {
        var stage = SavedRuntime.Stage(src.Plan);
        (dst.Payload, dst.Error) = SavedRuntime.RunRecordingErrors(stage, DecodingMapping.Stage, null,
            model => VideoEncoding.Decode(model, stage.Decode!, src.Latent));
    };
}

/// <summary>Cuts one output out of the payload into blocks (known size) or the variable-size column.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
[CustomMappingFactoryAttribute(WfVaeContracts.Slice)]
public sealed class SliceFactory : CustomMappingFactory<SliceRow, BlocksRow>
{
    /// <inheritdoc/>
    public override Action<SliceRow, BlocksRow> GetMapping() => static (src, dst) =>
    {
        var spec = SliceSpec.Parse(src.Slice);
        // A successful row always has values, so an empty payload is a row that failed under RowErrors = MissingValue.
        var part = src.Payload.Length == 0 ? (spec.Known == 0 ? [] : Enumerable.Repeat(float.NaN, spec.Known).ToArray()) : spec.Cut(src.Payload);
        if (spec.Known == 0)
        {
            dst.Var = part.ToArray();
            return;
        }
        if (part.Length != spec.Known)
            throw new InvalidDataException($"A saved WF-VAE stage produced {part.Length} values for a column declared with {spec.Known}.");
        int offset = 0;
        foreach (int k in SliceSpec.Blocks(spec.Known))
        {
            dst.Set(k, part.Slice(offset, 1 << k).ToArray());
            offset += 1 << k;
        }
    };
}

/// <summary>
/// Which output a slice stage takes from the payload [latent part 0 … latent part n−1, pooled]: latent parts have equal
/// length (per row), the pooled part has a fixed length. <see cref="Known"/> is the declared length (0 = variable size).
/// </summary>
internal readonly record struct SliceSpec(int Part, int LatentParts, int PooledLength, int Known)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Part}/{LatentParts}/{PooledLength}/{Known}");

    public static SliceSpec Parse(string text)
    {
        var p = text.Split('/');
        if (p.Length != 4 || !p.All(s => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out _)))
            throw new InvalidDataException($"Corrupt WF-VAE slice description '{text}'.");
        var v = p.Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        return new SliceSpec(v[0], v[1], v[2], v[3]);
    }

    public ReadOnlySpan<float> Cut(float[] payload)
    {
        int latent = (payload.Length - PooledLength) / LatentParts;
        return Part < LatentParts ? payload.AsSpan(Part * latent, latent) : payload.AsSpan(LatentParts * latent, PooledLength);
    }

    /// <summary>Block indices k (2^k values each) whose sizes add up to <paramref name="n"/>, largest first.</summary>
    public static IEnumerable<int> Blocks(int n)
    {
        for (int k = SavedColumns.BlockCount - 1; k >= 0; k--)
            if ((n & (1 << k)) != 0) yield return k;
    }
}

/// <summary>Parses stage descriptions once and runs rows of loaded pipelines with their verified weights.</summary>
internal static class SavedRuntime
{
    private static readonly ConcurrentDictionary<string, SavedStage> Stages = new(StringComparer.Ordinal);

    public static SavedStage Stage(string plan)
    {
        if (Stages.TryGetValue(plan, out var s)) return s;
        s = SavedStage.FromBase64(plan);
        if (Stages.Count > 256) Stages.Clear();
        Stages[plan] = s;
        return s;
    }

    public static float[] Run(SavedStage stage, string stageName, string? file, Func<WfVaeModel, float[][]> compute)
    {
        var model = WfVaeModelRegistry.Resolve(stage.Model, stage.Encode is not null ? WfVaeComponents.Encoder : WfVaeComponents.Decoder);
        float[][] parts;
        try
        {
            parts = compute(model);
        }
        catch (Exception e) when (e is not OperationCanceledException and not OutOfMemoryException)
        {
            throw new WfVaeRowException(stageName, stage.Column ?? "?", -1, file, e);
        }
        return parts.Length == 1 ? parts[0] : [.. parts.SelectMany(p => p)];
    }

    /// <summary><see cref="Run"/>, but a row that fails gives an empty payload and the error's message (naming column and file).</summary>
    public static (float[] Payload, string Error) RunRecordingErrors(SavedStage stage, string stageName, string? file, Func<WfVaeModel, float[][]> compute)
    {
        try
        {
            return (Run(stage, stageName, file, compute), "");
        }
        catch (WfVaeRowException e)
        {
            return ([], e.Message);
        }
    }
}

/// <summary>
/// Builds the saved form of a WF-VAE stage: a chain of public ML.NET stages that ML.NET can save and load without this
/// library's classes. Anchor → Expression (stage description) → CopyColumns (input) → CustomMapping (model run, one payload per
/// row) → per output: Expression (slice) → CustomMapping (slice) → Concatenate or CopyColumns → DropColumns; then the
/// temporary columns are dropped.
/// </summary>
internal static class SavedPipelines
{
    /// <summary>Largest column a saved stage can carry (sum of all blocks).</summary>
    public const int MaxKnownLength = (1 << SavedColumns.BlockCount) - 1;

    public static ITransformer Build(SavedStage stage, string inputColumn, DataViewType inputType, IReadOnlyList<OutputColumn> outputs,
        int latentParts, int pooledLength)
    {
        var ml = new MLContext(seed: 0);
        string internalInput = stage.Encode is { Input: VideoInputKind.Path } ? SavedColumns.Path
            : stage.Encode is not null ? SavedColumns.Video : SavedColumns.Latent;
        bool recordErrors = stage.ErrorColumn is not null;
        IEstimator<ITransformer> run = (stage.Encode, recordErrors) switch
        {
            ({ Input: VideoInputKind.Path }, false) => ml.Transforms.CustomMapping(new EncodePathFactory().GetMapping(), WfVaeContracts.EncodePath),
            ({ Input: VideoInputKind.Path }, true) => ml.Transforms.CustomMapping(new EncodePathRecordingErrorsFactory().GetMapping(), WfVaeContracts.EncodePathRecordingErrors),
            (not null, false) => ml.Transforms.CustomMapping(new EncodeVideoFactory().GetMapping(), WfVaeContracts.EncodeVideo),
            (not null, true) => ml.Transforms.CustomMapping(new EncodeVideoRecordingErrorsFactory().GetMapping(), WfVaeContracts.EncodeVideoRecordingErrors),
            (null, false) => ml.Transforms.CustomMapping(new DecodeFactory().GetMapping(), WfVaeContracts.Decode),
            (null, true) => ml.Transforms.CustomMapping(new DecodeRecordingErrorsFactory().GetMapping(), WfVaeContracts.DecodeRecordingErrors),
        };

        IEstimator<ITransformer> est = ml.Transforms.CustomMapping(new AnchorFactory().GetMapping(), WfVaeContracts.Anchor)
            .Append(ml.Transforms.Expression(SavedColumns.Plan, Constant(stage.ToBase64()), SavedColumns.Anchor))
            .Append(ml.Transforms.CopyColumns(internalInput, inputColumn))
            .Append(run);

        var blockNames = Enumerable.Range(0, SavedColumns.BlockCount).Select(k => SavedColumns.BlockPrefix + k.ToString(CultureInfo.InvariantCulture)).ToArray();
        for (int i = 0; i < outputs.Count; i++)
        {
            var o = outputs[i];
            int known = 0;
            if (o.Type.IsKnownSize)
            {
                if (o.Type.Size > MaxKnownLength)
                    throw new NotSupportedException($"Column '{o.Name}' holds {o.Type.Size} values per row; a saved WF-VAE stage carries at most {MaxKnownLength}. Use smaller videos or fewer frames.");
                known = o.Type.Size;
            }
            var spec = new SliceSpec(i, latentParts, pooledLength, known);
            est = est.Append(ml.Transforms.Expression(SavedColumns.Slice, Constant(spec.ToString()), SavedColumns.Anchor))
                .Append(ml.Transforms.CustomMapping(new SliceFactory().GetMapping(), WfVaeContracts.Slice));
            est = known > 0
                ? est.Append(ml.Transforms.Concatenate(o.Name, SliceSpec.Blocks(known).Select(k => blockNames[k]).ToArray()))
                : est.Append(ml.Transforms.CopyColumns(o.Name, SavedColumns.Var));
            est = est.Append(ml.Transforms.DropColumns([.. blockNames, SavedColumns.Var, SavedColumns.Slice]));
        }
        if (stage.ErrorColumn is { } errorColumn)
            est = est.Append(ml.Transforms.CopyColumns(errorColumn, SavedColumns.Error)).Append(ml.Transforms.DropColumns(SavedColumns.Error));
        est = est.Append(ml.Transforms.DropColumns(SavedColumns.Anchor, SavedColumns.Plan, internalInput, SavedColumns.Payload));

        var schema = new DataViewSchema.Builder();
        schema.AddColumn(inputColumn, inputType);
        return est.Fit(new EmptyDataView(schema.ToSchema()));
    }

    /// <summary>An ML.NET expression returning a constant string (base64 and digits only, so no escaping is needed).</summary>
    private static string Constant(string value) => $"a => \"{value}\"";
}

/// <summary>A data view with a schema and no rows, to fit trivial estimators without data.</summary>
internal sealed class EmptyDataView(DataViewSchema schema) : IDataView
{
    public DataViewSchema Schema { get; } = schema;
    public bool CanShuffle => true;
    public long? GetRowCount() => 0;
    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) => new Cursor(Schema);
    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) => [new Cursor(Schema)];

    private sealed class Cursor(DataViewSchema schema) : DataViewRowCursor
    {
        public override DataViewSchema Schema { get; } = schema;
        public override long Position => -1;
        public override long Batch => 0;
        public override bool MoveNext() => false;
        public override ValueGetter<DataViewRowId> GetIdGetter() => (ref DataViewRowId id) => throw new InvalidOperationException("Empty data view.");
        public override bool IsColumnActive(DataViewSchema.Column column) => false;
        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) => throw new InvalidOperationException("Empty data view.");
    }
}
