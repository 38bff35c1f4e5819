using System.Buffers.Binary;
using System.Text;

namespace WfVae.Tests.Model;

/// <summary>The safetensors reader refuses malformed files with one line naming the file, instead of loading something else.</summary>
public sealed class SafetensorsFormatTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("wfvae-safetensors");

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string Write(string header, int dataBytes, byte[]? headerBytes = null)
    {
        string path = Path.Combine(_dir, $"{Guid.NewGuid():N}.safetensors");
        var h = headerBytes ?? Encoding.UTF8.GetBytes(header);
        var file = new byte[8 + h.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)h.Length);
        h.CopyTo(file, 8);
        File.WriteAllBytes(path, file);
        return path;
    }

    private static string Refused(string path)
    {
        var e = Assert.Throws<SafetensorsException>(() => new SafetensorsReader(path).Dispose());
        Assert.Contains(path, e.Message);
        Assert.DoesNotContain("\n", e.Message);
        return e.Message;
    }

    [Fact]
    public void A_well_formed_file_reads()
    {
        using var r = new SafetensorsReader(Write("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}""", 12));
        Assert.Equal(["a", "b"], r.Entries.Keys.Order());
    }

    [Fact]
    public void Overlapping_tensors_are_refused() =>
        Assert.Contains("overlaps", Refused(Write("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8)));

    [Fact]
    public void Holes_and_trailing_bytes_are_refused()
    {
        Assert.Contains("belong to no tensor", Refused(Write("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8)));
        Assert.Contains("4 bytes after its last tensor", Refused(Write("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", 8)));
    }

    [Fact]
    public void A_shape_too_large_to_count_is_refused_not_overflowed() =>
        Assert.Contains("larger than any file can hold", Refused(Write("""{"a":{"dtype":"F32","shape":[4611686018427387905],"data_offsets":[0,4]}}""", 4)));

    [Fact]
    public void Duplicate_keys_and_invalid_utf8_name_the_file()
    {
        Assert.Contains("twice", Refused(Write("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", 4)));
        var bad = Encoding.UTF8.GetBytes("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""");
        bad[2] = 0xFF; // the key's first byte
        Assert.Contains("not valid", Refused(Write("", 4, bad)));
    }

    [Fact]
    public void Non_integer_shapes_are_refused() =>
        Assert.Contains("not a string / integers", Refused(Write("""{"a":{"dtype":"F32","shape":["x"],"data_offsets":[0,4]}}""", 4)));
}
