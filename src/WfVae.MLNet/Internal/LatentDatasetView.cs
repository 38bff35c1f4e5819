using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using WfVae.Datasets;

namespace WfVae.MLNet;

/// <summary>
/// A latent dataset as an <see cref="IDataView"/>: the manifest rows are held in memory, the latents stay in the shards and
/// each cursor reads them through its own <see cref="LatentShardReader"/> (one shard open at a time).
/// </summary>
internal sealed class LatentDatasetView : IDataView
{
    private readonly LatentDataset _dataset;
    private readonly IReadOnlyList<ClipRecord> _rows;
    private readonly int[] _manifestIndex;
    private readonly ManifestColumn[] _columns;
    private readonly int[]? _latentShape;
    private readonly int _latentIndex;

    private LatentDatasetView(LatentDataset dataset, WfVaeLatentLoadOptions options)
    {
        _dataset = dataset;
        var included = dataset.Clips.Select((c, i) => (Clip: c, Index: i))
            .Where(r => options.IncludeFailed || r.Clip.Status == ClipRecord.Ok).ToList();
        _rows = included.Select(r => r.Clip).ToList();
        _manifestIndex = included.Select(r => r.Index).ToArray();
        _columns = [.. ManifestColumn.Standard, .. dataset.CarriedColumns.Select(ManifestColumn.Carried)];
        if (_columns.Any(c => c.Name == options.LatentColumnName))
            throw new ArgumentException($"WfVaeLatentLoadOptions.LatentColumnName '{options.LatentColumnName}' is the name of a manifest column of '{dataset.Directory}'; choose another name.", nameof(options));
        _latentShape = LatentDataset.CommonLatentShape(dataset.Clips);
        var b = new DataViewSchema.Builder();
        foreach (var c in _columns) b.AddColumn(c.Name, c.Type);
        b.AddColumn(options.LatentColumnName, _latentShape is { } s
            ? new VectorDataViewType(NumberDataViewType.Single, s)
            : new VectorDataViewType(NumberDataViewType.Single));
        Schema = b.ToSchema();
        _latentIndex = _columns.Length;
    }

    public static LatentDatasetView Open(string directory, WfVaeLatentLoadOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return new LatentDatasetView(LatentDataset.Open(directory), options);
    }

    public DataViewSchema Schema { get; }

    /// <summary>False: rows come in manifest order, shard after shard (a shuffle would reopen shards row by row).</summary>
    public bool CanShuffle => false;

    public long? GetRowCount() => _rows.Count;

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) =>
        new Cursor(this, Active(columnsNeeded));

    /// <summary>One cursor: shards are read in order, and several cursors over one file gain nothing at these row sizes.</summary>
    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        [GetRowCursor(columnsNeeded, rand)];

    private bool[] Active(IEnumerable<DataViewSchema.Column> needed)
    {
        ArgumentNullException.ThrowIfNull(needed);
        var active = new bool[Schema.Count];
        foreach (var c in needed)
        {
            if (c.Index < 0 || c.Index >= Schema.Count || Schema[c.Index].Name != c.Name)
                throw new ArgumentOutOfRangeException(nameof(needed), $"Column '{c.Name}' (index {c.Index}) is not part of this schema.");
            active[c.Index] = true;
        }
        return active;
    }

    private sealed class Cursor : DataViewRowCursor
    {
        private readonly LatentDatasetView _view;
        private readonly bool[] _active;
        private readonly LatentShardReader _reader;
        private readonly int _latentLength;
        private float[] _latent = [];
        private long _latentPosition = -1;
        private long _position = -1;
        private bool _done;

        public Cursor(LatentDatasetView view, bool[] active)
        {
            _view = view;
            _active = active;
            _reader = new LatentShardReader(view._dataset);
            _latentLength = view._latentShape?.Aggregate(1, (a, b) => checked(a * b)) ?? 0;
        }

        public override DataViewSchema Schema => _view.Schema;
        public override long Position => _position;
        public override long Batch => 0;

        public override bool MoveNext()
        {
            if (_done) return false;
            if (_position + 1 >= _view._rows.Count)
            {
                _done = true;
                _reader.Dispose();
                return false;
            }
            _position++;
            return true;
        }

        public override ValueGetter<DataViewRowId> GetIdGetter() => (ref DataViewRowId id) =>
            id = new DataViewRowId((ulong)_view._manifestIndex[Row()], 0);

        public override bool IsColumnActive(DataViewSchema.Column column) =>
            column.Index >= 0 && column.Index < _active.Length && _active[column.Index];

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (column.Index < 0 || column.Index >= _active.Length)
                throw new ArgumentOutOfRangeException(nameof(column), $"Column '{column.Name}' (index {column.Index}) is not part of this schema.");
            if (!_active[column.Index])
                throw new InvalidOperationException($"Column '{column.Name}' was not requested when the cursor was created; include it in columnsNeeded.");
            var type = Schema[column.Index].Type;
            if (typeof(TValue) != type.RawType)
                throw new InvalidOperationException($"Invalid TValue in GetGetter: '{typeof(TValue)}', expected type: '{type.RawType}' for column '{column.Name}' ({type}).");
            Delegate getter = column.Index == _view._latentIndex
                ? (ValueGetter<VBuffer<float>>)GetLatent
                : _view._columns[column.Index].Getter(this);
            return (ValueGetter<TValue>)getter;
        }

        internal ClipRecord Current => _view._rows[Row()];

        private int Row() => _position >= 0 && !_done
            ? (int)_position
            : throw new InvalidOperationException("The cursor is not on a row; call MoveNext first (and only while it returns true).");

        private void GetLatent(ref VBuffer<float> dst)
        {
            var clip = Current;
            if (clip.Status != ClipRecord.Ok)
            {
                // A failed clip has no latent: NaN (Single's missing value) where the type fixes the length, else empty.
                var missing = VBufferEditor.Create(ref dst, _latentLength);
                missing.Values.Fill(float.NaN);
                dst = missing.Commit();
                return;
            }
            if (_latentPosition != _position)
            {
                int length = LatentShardReader.LatentLength(clip);
                if (_latent.Length != length) _latent = new float[length];
                _reader.Read(clip, _latent);
                _latentPosition = _position;
            }
            var editor = VBufferEditor.Create(ref dst, _latent.Length);
            _latent.AsSpan().CopyTo(editor.Values);
            dst = editor.Commit();
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) _reader.Dispose();
            _done = true;
            base.Dispose(disposing);
        }
    }

    /// <summary>A manifest column: its name, ML.NET type and how a cursor reads it from the current clip.</summary>
    private sealed record ManifestColumn(string Name, DataViewType Type, Func<Cursor, Delegate> Getter)
    {
        private static ManifestColumn Text(string name, Func<ClipRecord, string?> value) =>
            new(name, TextDataViewType.Instance, c => (ValueGetter<ReadOnlyMemory<char>>)((ref ReadOnlyMemory<char> v) => v = (value(c.Current) ?? "").AsMemory()));

        // Empty integers occur on failed rows only (an unreadable source has no size); they read as 0.
        private static ManifestColumn Int(string name, Func<ClipRecord, int?> value) =>
            new(name, NumberDataViewType.Int32, c => (ValueGetter<int>)((ref int v) => v = value(c.Current) ?? 0));

        public static ManifestColumn Carried(string name) => Text(name, r => r.Carried.TryGetValue(name, out var v) ? v : null);

        /// <summary>The columns every dataset manifest has, in <see cref="ClipRecord.ColumnNames"/> order.</summary>
        public static readonly IReadOnlyList<ManifestColumn> Standard =
        [
            Text("clip_id", r => r.ClipId),
            Text("source_path", r => r.SourcePath),
            Int("clip_index", r => r.ClipIndex),
            Int("start_frame", r => r.StartFrame),
            Int("frame_count", r => r.FrameCount),
            Int("frame_step", r => r.FrameStep),
            new("fps", NumberDataViewType.Double, c => (ValueGetter<double>)((ref double v) => v = c.Current.Fps)),
            Int("source_width", r => r.SourceWidth),
            Int("source_height", r => r.SourceHeight),
            Int("resized_width", r => r.ResizedWidth),
            Int("resized_height", r => r.ResizedHeight),
            Int("crop_x", r => r.CropX),
            Int("crop_y", r => r.CropY),
            Int("width", r => r.Width),
            Int("height", r => r.Height),
            Text("latent_shape", r => r.LatentShape is null ? null : string.Join(",", r.LatentShape.Select(d => d.ToString(CultureInfo.InvariantCulture)))),
            Text("latent_dtype", r => r.LatentDType),
            Text("shard_file", r => r.ShardFile),
            Text("shard_key", r => r.ShardKey),
            Text("status", r => r.Status),
            Text("error", r => r.Error),
        ];
    }
}
