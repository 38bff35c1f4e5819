using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using WfVae.Files;
using static TorchSharp.torch;

namespace WfVae;

/// <summary>One tensor's entry in a safetensors header.</summary>
public sealed record SafetensorsEntry(string Name, string DType, long[] Shape, long Begin, long End)
{
    /// <summary>Shape as "[a,b,c]".</summary>
    public string ShapeText => "[" + string.Join(",", Shape) + "]";
}

/// <summary>A malformed, truncated or inconsistent safetensors file.</summary>
public sealed class SafetensorsException : IOException
{
    public SafetensorsException(string message) : base(message) { }
}

/// <summary>
/// Reads safetensors files (https://huggingface.co/docs/safetensors) with full validation of the header
/// against the file length, so a truncated download is an error rather than a partial load.
/// </summary>
public sealed class SafetensorsReader : IDisposable
{
    private static readonly System.Text.UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
    private readonly FileStream _stream;
    private readonly long _dataStart;

    /// <summary>File path.</summary>
    public string Path { get; }
    /// <summary>Tensor entries by name, in header order.</summary>
    public IReadOnlyDictionary<string, SafetensorsEntry> Entries { get; }
    /// <summary>The header's <c>__metadata__</c> map (empty if absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    public SafetensorsReader(string path)
    {
        Path = path;
        if (!File.Exists(path)) throw new FileNotFoundException($"safetensors file not found: '{path}'.", path);
        _stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        try
        {
            long length = _stream.Length;
            Span<byte> lenBytes = stackalloc byte[8];
            if (length < 8 || _stream.ReadAtLeast(lenBytes, 8, false) < 8)
                throw new SafetensorsException($"'{path}' is not a safetensors file: {length} bytes is shorter than the 8-byte header length.");
            ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
            if (headerLen == 0 || headerLen > 100_000_000 || (long)headerLen > length - 8)
                throw new SafetensorsException($"'{path}' is truncated or not a safetensors file: header length {headerLen} does not fit in a {length}-byte file.");
            var header = new byte[headerLen];
            _stream.ReadExactly(header);
            _dataStart = 8 + (long)headerLen;
            // The JSON reader decodes strings lazily and reports bad UTF-8 as a generic error wherever it is read: check it all once.
            try { _ = StrictUtf8.GetCharCount(header); }
            catch (System.Text.DecoderFallbackException e) { throw new SafetensorsException($"'{path}': header holds text that is not valid UTF-8 (byte {8 + e.Index} of the file)."); }
            JsonObject root;
            try
            {
                root = JsonNode.Parse(header) as JsonObject ?? throw new SafetensorsException($"'{path}': header is not a JSON object.");
                _ = root.Count; // JsonObject builds its dictionary lazily; duplicate keys surface here
            }
            catch (JsonException e) { throw new SafetensorsException($"'{path}': header is not valid JSON or not valid UTF-8 ({e.Message.Split('.')[0]})."); }
            catch (ArgumentException e) { throw new SafetensorsException($"'{path}': header names a tensor twice ({e.Message.Split('.')[0]})."); }
            catch (InvalidOperationException e) { throw new SafetensorsException($"'{path}': header is not valid ({e.Message.Split('.')[0]})."); }

            var entries = new Dictionary<string, SafetensorsEntry>(StringComparer.Ordinal);
            var meta = new Dictionary<string, string>();
            long dataLen = length - _dataStart;
            // Keys and strings are decoded lazily, so invalid UTF-8 surfaces while walking the entries.
            try { _ = root.Select(p => (p.Key, p.Value?.ToJsonString())).ToList(); }
            catch (InvalidOperationException e) when (e.InnerException is System.Text.DecoderFallbackException)
            {
                throw new SafetensorsException($"'{path}': header holds text that is not valid UTF-8 ({e.InnerException.Message.Split('.')[0]}).");
            }
            foreach (var (name, node) in root)
            {
                if (name == "__metadata__")
                {
                    if (node is JsonObject mo)
                        foreach (var (k, v) in mo) meta[k] = v?.ToString() ?? "";
                    continue;
                }
                if (node is not JsonObject o || o["dtype"] is not JsonValue dt || o["shape"] is not JsonArray shp || o["data_offsets"] is not JsonArray offs || offs.Count != 2)
                    throw new SafetensorsException($"'{path}': header entry '{name}' lacks dtype/shape/data_offsets.");
                string dtype;
                long[] shape;
                long begin, end;
                try
                {
                    dtype = dt.GetValue<string>();
                    shape = shp.Select(s => s!.GetValue<long>()).ToArray();
                    (begin, end) = (offs[0]!.GetValue<long>(), offs[1]!.GetValue<long>());
                }
                catch (Exception e) when (e is InvalidOperationException or FormatException or NullReferenceException)
                {
                    throw new SafetensorsException($"'{path}': header entry '{name}' has a dtype, shape or data_offsets that is not a string / integers.");
                }
                int elem = ElementSize(dtype) ?? throw new SafetensorsException($"'{path}': tensor '{name}' has unsupported dtype '{dtype}'; supported: F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL.");
                long bytes;
                try { bytes = checked(shape.Aggregate(1L, (a, b) => b < 0 ? throw new SafetensorsException($"'{path}': tensor '{name}' has a negative dimension.") : checked(a * b)) * elem); }
                catch (OverflowException) { throw new SafetensorsException($"'{path}': tensor '{name}' {dtype}[{string.Join(",", shape)}] is larger than any file can hold."); }
                if (begin < 0 || end < begin || end - begin != bytes)
                    throw new SafetensorsException($"'{path}': tensor '{name}' {dtype}[{string.Join(",", shape)}] needs {bytes} bytes but data_offsets are [{begin},{end}].");
                if (end > dataLen)
                    throw new SafetensorsException($"'{path}' is truncated: tensor '{name}' ends at byte {end} of the data section but the file holds only {dataLen} data bytes.");
                entries[name] = new SafetensorsEntry(name, dtype, shape, begin, end);
            }
            // The data section must be covered exactly: no overlapping tensors, no holes, nothing after the last one.
            long covered = 0;
            foreach (var e in entries.Values.OrderBy(e => e.Begin).ThenBy(e => e.End))
            {
                if (e.Begin < covered)
                    throw new SafetensorsException($"'{path}': tensor '{e.Name}' (bytes [{e.Begin},{e.End})) overlaps the tensor before it, which ends at byte {covered}.");
                if (e.Begin > covered)
                    throw new SafetensorsException($"'{path}': bytes [{covered},{e.Begin}) of the data section belong to no tensor (before '{e.Name}').");
                covered = e.End;
            }
            if (covered != dataLen)
                throw new SafetensorsException($"'{path}' has {dataLen - covered} bytes after its last tensor (the data section ends at byte {covered}); the file is damaged or not a safetensors file.");
            Entries = entries;
            Metadata = meta;
        }
        catch
        {
            _stream.Dispose();
            throw;
        }
    }

    /// <summary>Reads one tensor into a new CPU tensor of its stored dtype.</summary>
    public Tensor Read(string name)
    {
        if (!Entries.TryGetValue(name, out var e))
            throw new KeyNotFoundException($"'{Path}' has no tensor '{name}'; it holds: {string.Join(", ", Entries.Keys.Take(20))}{(Entries.Count > 20 ? ", …" : "")}.");
        var t = torch.empty(e.Shape, ToScalarType(e.DType));
        try
        {
            ReadInto(e, t);
            return t;
        }
        catch
        {
            t.Dispose();
            throw;
        }
    }

    private unsafe void ReadInto(SafetensorsEntry e, Tensor t)
    {
        long total = e.End - e.Begin;
        if (total > int.MaxValue) throw new SafetensorsException($"'{Path}': tensor '{e.Name}' is larger than 2 GiB, which this reader does not support.");
        fixed (byte* dst = t.bytes)
        lock (_stream)
        {
            _stream.Position = _dataStart + e.Begin;
            long done = 0;
            while (done < total)
            {
                int n = (int)Math.Min(total - done, 1 << 26);
                int got = _stream.ReadAtLeast(new Span<byte>(dst + done, n), n, throwOnEndOfStream: false);
                if (got < n) throw new SafetensorsException($"'{Path}' is truncated while reading tensor '{e.Name}'.");
                done += n;
            }
        }
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors data is little-endian; big-endian hosts are not supported.");
    }

    public void Dispose() => _stream.Dispose();

    internal static int? ElementSize(string dtype) => dtype switch
    {
        "F32" or "I32" => 4,
        "F16" or "BF16" or "I16" => 2,
        "F64" or "I64" => 8,
        "I8" or "U8" or "BOOL" => 1,
        _ => null,
    };

    internal static ScalarType ToScalarType(string dtype) => dtype switch
    {
        "F32" => ScalarType.Float32,
        "F16" => ScalarType.Float16,
        "BF16" => ScalarType.BFloat16,
        "F64" => ScalarType.Float64,
        "I64" => ScalarType.Int64,
        "I32" => ScalarType.Int32,
        "I16" => ScalarType.Int16,
        "I8" => ScalarType.Int8,
        "U8" => ScalarType.Byte,
        "BOOL" => ScalarType.Bool,
        _ => throw new SafetensorsException($"unsupported safetensors dtype '{dtype}'."),
    };

    internal static string FromScalarType(ScalarType t) => t switch
    {
        ScalarType.Float32 => "F32",
        ScalarType.Float16 => "F16",
        ScalarType.BFloat16 => "BF16",
        ScalarType.Float64 => "F64",
        ScalarType.Int64 => "I64",
        ScalarType.Int32 => "I32",
        ScalarType.Int16 => "I16",
        ScalarType.Int8 => "I8",
        ScalarType.Byte => "U8",
        ScalarType.Bool => "BOOL",
        _ => throw new NotSupportedException($"dtype {t} cannot be stored in safetensors by this writer."),
    };
}

/// <summary>Writes safetensors files atomically (temp file in the same folder, then rename).</summary>
public static class SafetensorsWriter
{
    /// <summary>Writes <paramref name="tensors"/> (any device; copied to CPU) with optional metadata.</summary>
    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
        {
            var m = new JsonObject();
            foreach (var (k, v) in metadata) m[k] = v;
            header["__metadata__"] = m;
        }
        long offset = 0;
        foreach (var (name, t) in list)
        {
            long bytes = t.numel() * t.ElementSize;
            header[name] = new JsonObject
            {
                ["dtype"] = SafetensorsReader.FromScalarType(t.dtype),
                ["shape"] = new JsonArray(t.shape.Select(s => (JsonNode)JsonValue.Create(s)!).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + bytes),
            };
            offset += bytes;
        }
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padded = (headerBytes.Length + 7) / 8 * 8;

        string full = System.IO.Path.GetFullPath(path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        AtomicFileWriter.WriteFile(full, fs =>
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)padded);
            fs.Write(len);
            fs.Write(headerBytes);
            for (int i = headerBytes.Length; i < padded; i++) fs.WriteByte((byte)' ');
            foreach (var (_, t) in list)
            {
                using var cpu = t.detach().cpu().contiguous();
                WriteData(fs, cpu);
            }
        });
    }

    private static unsafe void WriteData(Stream s, Tensor cpu)
    {
        long total = cpu.numel() * cpu.ElementSize;
        fixed (byte* src = cpu.bytes)
        {
        long done = 0;
        while (done < total)
        {
            int n = (int)Math.Min(total - done, 1 << 26);
            s.Write(new ReadOnlySpan<byte>(src + done, n));
            done += n;
        }
        }
    }
}
