using Microsoft.ML;
using Microsoft.ML.Data;

namespace WfVae.MLNet;

/// <summary>One output column of a WF-VAE stage.</summary>
internal sealed record OutputColumn(string Name, VectorDataViewType Type);

/// <summary>
/// What a WF-VAE stage does to one row: bind its input column, then compute all of its output columns at once.
/// Implementations must be thread-safe; a computer is created per cursor and used by one thread.
/// </summary>
internal interface IColumnMapping
{
    /// <summary>"WfVaeEncode" or "WfVaeDecode", for error messages.</summary>
    string StageName { get; }

    /// <summary>Output columns, in schema order.</summary>
    IReadOnlyList<OutputColumn> Outputs { get; }

    /// <summary>The text column after <see cref="Outputs"/> that records row errors (<see cref="WfVaeRowErrorPolicy.MissingValue"/>); null: errors throw.</summary>
    string? ErrorColumnName { get; }

    /// <summary>Finds and type-checks the input column; throws with ML.NET's wording.</summary>
    DataViewSchema.Column BindInput(DataViewSchema inputSchema);

    /// <summary>Creates the per-cursor computer reading <paramref name="input"/> of <paramref name="row"/>.</summary>
    IRowComputer CreateComputer(DataViewRow row, DataViewSchema.Column input);
}

/// <summary>Computes the output columns of the current row.</summary>
internal interface IRowComputer
{
    /// <summary>All output values of the current row, in <see cref="IColumnMapping.Outputs"/> order.</summary>
    float[][] Compute();

    /// <summary>The file (path input) of the current row, if any, for error messages.</summary>
    string? CurrentFile { get; }
}

/// <summary>
/// The lazy view a WF-VAE transformer returns: input columns pass through, output columns are computed on first access per
/// row (one model run serves every output column of that row) and only when a requested column needs them.
/// </summary>
internal sealed class MappedDataView : IDataView
{
    private readonly IDataView _source;
    private readonly IColumnMapping _mapping;
    private readonly DataViewSchema.Column _input;
    private readonly Action _checkAlive;

    public MappedDataView(IDataView source, IColumnMapping mapping, Action checkAlive)
    {
        _source = source;
        _mapping = mapping;
        _checkAlive = checkAlive;
        _input = mapping.BindInput(source.Schema);
        Schema = BuildSchema(source.Schema, mapping);
    }

    public DataViewSchema Schema { get; }

    public bool CanShuffle => _source.CanShuffle;

    public long? GetRowCount() => _source.GetRowCount();

    public static DataViewSchema BuildSchema(DataViewSchema input, IColumnMapping mapping)
    {
        var b = new DataViewSchema.Builder();
        b.AddColumns(input);
        foreach (var o in mapping.Outputs)
            b.AddColumn(o.Name, o.Type);
        if (mapping.ErrorColumnName is { } error)
            b.AddColumn(error, TextDataViewType.Instance);
        return b.ToSchema();
    }

    /// <summary>Columns the stage adds: its outputs and the error column, if any.</summary>
    public static int AddedColumns(IColumnMapping mapping) => mapping.Outputs.Count + (mapping.ErrorColumnName is null ? 0 : 1);

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var (sourceColumns, active) = Split(Schema, _source.Schema, _input, AddedColumns(_mapping), columnsNeeded);
        _checkAlive();
        return new MappedCursor(this, _source.GetRowCursor(sourceColumns, rand), active);
    }

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
    {
        var (sourceColumns, active) = Split(Schema, _source.Schema, _input, AddedColumns(_mapping), columnsNeeded);
        _checkAlive();
        return _source.GetRowCursorSet(sourceColumns, n, rand).Select(c => (DataViewRowCursor)new MappedCursor(this, c, active)).ToArray();
    }

    /// <summary>Maps requested output columns to the source columns they need (the input column once any output is active).</summary>
    internal static (List<DataViewSchema.Column> Source, bool[] Active) Split(DataViewSchema schema, DataViewSchema source,
        DataViewSchema.Column input, int outputCount, IEnumerable<DataViewSchema.Column> needed)
    {
        var cols = new List<DataViewSchema.Column>();
        var active = new bool[outputCount];
        foreach (var c in needed)
        {
            if (c.Index < 0 || c.Index >= schema.Count)
                throw new ArgumentOutOfRangeException(nameof(needed), $"Column '{c.Name}' (index {c.Index}) is not part of this schema.");
            if (c.Index < source.Count) cols.Add(source[c.Index]);
            else active[c.Index - source.Count] = true;
        }
        if (active.Any(a => a) && !cols.Any(c => c.Index == input.Index))
            cols.Add(input);
        return (cols, active);
    }

    private sealed class MappedCursor : DataViewRowCursor
    {
        private readonly DataViewRowCursor _inner;
        private readonly RowOutputs _outputs;

        public MappedCursor(MappedDataView parent, DataViewRowCursor inner, bool[] active)
        {
            _inner = inner;
            Schema = parent.Schema;
            _outputs = new RowOutputs(parent._mapping, parent._checkAlive, inner, parent._input, active);
        }

        public override DataViewSchema Schema { get; }
        public override long Position => _inner.Position;
        public override long Batch => _inner.Batch;
        public override bool MoveNext() => _inner.MoveNext();
        public override ValueGetter<DataViewRowId> GetIdGetter() => _inner.GetIdGetter();
        public override bool IsColumnActive(DataViewSchema.Column column) => _outputs.IsActive(column);
        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) => _outputs.GetGetter<TValue>(column);

        protected override void Dispose(bool disposing)
        {
            if (disposing) _inner.Dispose();
            base.Dispose(disposing);
        }
    }
}

/// <summary>A row of a WF-VAE stage over an input row (for <see cref="IRowToRowMapper"/>, e.g. PredictionEngine).</summary>
internal sealed class MappedRow : DataViewRow
{
    private readonly DataViewRow _inner;
    private readonly RowOutputs _outputs;

    public MappedRow(DataViewSchema schema, IColumnMapping mapping, Action checkAlive, DataViewRow inner, DataViewSchema.Column input, bool[] active)
    {
        _inner = inner;
        Schema = schema;
        _outputs = new RowOutputs(mapping, checkAlive, inner, input, active);
    }

    public override DataViewSchema Schema { get; }
    public override long Position => _inner.Position;
    public override long Batch => _inner.Batch;
    public override ValueGetter<DataViewRowId> GetIdGetter() => _inner.GetIdGetter();
    public override bool IsColumnActive(DataViewSchema.Column column) => _outputs.IsActive(column);
    public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) => _outputs.GetGetter<TValue>(column);
}

/// <summary>The <see cref="IRowToRowMapper"/> of a WF-VAE transformer.</summary>
internal sealed class MappedRowToRowMapper : IRowToRowMapper
{
    private readonly IColumnMapping _mapping;
    private readonly Action _checkAlive;
    private readonly DataViewSchema.Column _input;

    public MappedRowToRowMapper(DataViewSchema inputSchema, IColumnMapping mapping, Action checkAlive)
    {
        _mapping = mapping;
        _checkAlive = checkAlive;
        _input = mapping.BindInput(inputSchema);
        InputSchema = inputSchema;
        OutputSchema = MappedDataView.BuildSchema(inputSchema, mapping);
    }

    public DataViewSchema InputSchema { get; }
    public DataViewSchema OutputSchema { get; }

    public IEnumerable<DataViewSchema.Column> GetDependencies(IEnumerable<DataViewSchema.Column> dependingColumns) =>
        MappedDataView.Split(OutputSchema, InputSchema, _input, MappedDataView.AddedColumns(_mapping), dependingColumns).Source;

    public DataViewRow GetRow(DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns)
    {
        var (_, active) = MappedDataView.Split(OutputSchema, InputSchema, _input, MappedDataView.AddedColumns(_mapping), activeColumns);
        _checkAlive();
        return new MappedRow(OutputSchema, _mapping, _checkAlive, input, _input, active);
    }
}

/// <summary>
/// Getters of one cursor or row: input columns are delegated, output columns share one computation per row position.
/// </summary>
internal sealed class RowOutputs
{
    private readonly IColumnMapping _mapping;
    private readonly Action _checkAlive;
    private readonly DataViewRow _inner;
    private readonly DataViewSchema.Column _input;
    private readonly bool[] _active;
    private readonly int _sourceCount;
    private IRowComputer? _computer;
    private long _computedPosition = -1;
    private float[][]? _values;
    private string _error = "";

    public RowOutputs(IColumnMapping mapping, Action checkAlive, DataViewRow inner, DataViewSchema.Column input, bool[] active)
    {
        _mapping = mapping;
        _checkAlive = checkAlive;
        _inner = inner;
        _input = input;
        _active = active;
        _sourceCount = inner.Schema.Count;
    }

    public bool IsActive(DataViewSchema.Column column) =>
        column.Index < _sourceCount ? _inner.IsColumnActive(_inner.Schema[column.Index]) : _active[column.Index - _sourceCount];

    public ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
    {
        if (column.Index < _sourceCount)
            return _inner.GetGetter<TValue>(_inner.Schema[column.Index]);
        int k = column.Index - _sourceCount;
        if (k >= _active.Length)
            throw new ArgumentOutOfRangeException(nameof(column), $"Column '{column.Name}' (index {column.Index}) is not part of this schema.");
        if (!_active[k])
            throw new InvalidOperationException($"Column '{column.Name}' was not requested when the cursor was created; include it in columnsNeeded.");
        if (k == _mapping.Outputs.Count)
        {
            if (typeof(TValue) != typeof(ReadOnlyMemory<char>))
                throw new InvalidOperationException($"Invalid TValue in GetGetter: '{typeof(TValue)}', expected type: '{typeof(ReadOnlyMemory<char>)}' for column '{column.Name}' (String).");
            ValueGetter<ReadOnlyMemory<char>> errorGetter = (ref ReadOnlyMemory<char> dst) =>
            {
                Current();
                dst = _error.AsMemory();
            };
            return (ValueGetter<TValue>)(Delegate)errorGetter;
        }
        if (typeof(TValue) != typeof(VBuffer<float>))
            throw new InvalidOperationException($"Invalid TValue in GetGetter: '{typeof(TValue)}', expected type: '{typeof(VBuffer<float>)}' for column '{column.Name}' ({column.Type}).");
        ValueGetter<VBuffer<float>> getter = (ref VBuffer<float> dst) =>
        {
            float[] src = Current()[k];
            var editor = VBufferEditor.Create(ref dst, src.Length);
            src.AsSpan().CopyTo(editor.Values);
            dst = editor.Commit();
        };
        return (ValueGetter<TValue>)(Delegate)getter;
    }

    private float[][] Current()
    {
        long pos = _inner.Position;
        if (pos < 0)
            throw new InvalidOperationException("The cursor is not on a row; call MoveNext first.");
        if (_values is not null && pos == _computedPosition)
            return _values;
        _checkAlive();
        _computer ??= _mapping.CreateComputer(_inner, _input);
        try
        {
            _values = _computer.Compute();
            _error = "";
        }
        catch (Exception e) when (e is not OperationCanceledException and not ObjectDisposedException and not OutOfMemoryException)
        {
            _values = null;
            var failure = new WfVaeRowException(_mapping.StageName, _input.Name, pos, _computer.CurrentFile, e);
            if (_mapping.ErrorColumnName is null) throw failure;
            _values = MissingValues(_mapping.Outputs);
            _error = failure.Message;
        }
        _computedPosition = pos;
        return _values;
    }

    /// <summary>The values of a row that failed: NaN (ML.NET's missing Single) for known-size columns, empty for variable-size ones.</summary>
    public static float[][] MissingValues(IReadOnlyList<OutputColumn> outputs) =>
        [.. outputs.Select(o => o.Type.IsKnownSize ? Enumerable.Repeat(float.NaN, o.Type.Size).ToArray() : [])];
}

/// <summary>The <see cref="ITransformer"/> members both WF-VAE transformers share: a live model check, then a lazy mapped view.</summary>
internal static class MappedStage
{
    public static DataViewSchema OutputSchema(ModelHandle model, IColumnMapping mapping, DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        model.CheckAlive();
        mapping.BindInput(inputSchema);
        return MappedDataView.BuildSchema(inputSchema, mapping);
    }

    public static IRowToRowMapper RowToRowMapper(ModelHandle model, IColumnMapping mapping, DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        model.CheckAlive();
        return new MappedRowToRowMapper(inputSchema, mapping, model.CheckAlive);
    }

    public static IDataView Transform(ModelHandle model, IColumnMapping mapping, IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        model.CheckAlive();
        return new MappedDataView(input, mapping, model.CheckAlive);
    }
}
