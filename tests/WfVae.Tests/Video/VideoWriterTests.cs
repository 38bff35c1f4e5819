using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using WfVae.Video;

namespace WfVae.Tests.Video;

[Collection("Video")]
public sealed class VideoWriterTests(VideoFixture fx)
{
    [Fact]
    public void WriteMp4_RoundTrip_PsnrAbove35()
    {
        var clip = VideoReader.ReadAllRgb24(fx.Testsrc);
        string dir = fx.NewDir("mp4");
        string outFile = Path.Combine(dir, "round trip.mp4");
        VideoWriter.WriteMp4(outFile, clip.Frames, clip.Height, clip.Width, fps: 8);

        VideoInfo info = VideoReader.Probe(outFile);
        Assert.Equal((64, 48, 33), (info.Width, info.Height, info.FrameCount));
        Assert.Equal(8.0, info.FrameRate, 6);

        double psnr = Ffmpeg.Psnr(fx.Decoded(fx.Testsrc, 64, 48), VideoReader.ReadFramesRgb24(outFile).ToList());
        Assert.True(psnr > 35, $"PSNR {psnr:F1} dB");
        Assert.Equal(new[] { "round trip.mp4" }, Directory.GetFiles(dir).Select(Path.GetFileName));
    }

    [Fact]
    public void WriteMp4_ByteFrames_RoundTripAndFrameRate()
    {
        var frames = fx.Decoded(fx.MovingBox, 64, 64);
        string outFile = Path.Combine(fx.NewDir("mp4b"), "box.mp4");
        VideoWriter.WriteMp4(outFile, frames, 64, 64, fps: 12.5);

        VideoInfo info = VideoReader.Probe(outFile);
        Assert.Equal(32, info.FrameCount);
        Assert.Equal(12.5, info.FrameRate, 3);
        double psnr = Ffmpeg.Psnr(frames, VideoReader.ReadFramesRgb24(outFile).ToList());
        Assert.True(psnr > 35, $"PSNR {psnr:F1} dB");
    }

    [Fact]
    public void WriteMp4_OddSize_Works()
    {
        var frames = VideoReader.ReadFramesRgb24(fx.Testsrc, new VideoReadOptions { Width = 33, Height = 25, MaxFrames = 6 }).ToList();
        string outFile = Path.Combine(fx.NewDir("odd"), "odd.mp4");
        VideoWriter.WriteMp4(outFile, frames, 25, 33);
        Assert.Equal((33, 25, 6), (VideoReader.Probe(outFile).Width, VideoReader.Probe(outFile).Height, VideoReader.Probe(outFile).FrameCount));
        double psnr = Ffmpeg.Psnr(frames, VideoReader.ReadFramesRgb24(outFile).ToList());
        Assert.True(psnr > 35, $"PSNR {psnr:F1} dB");
    }

    [Fact]
    public void WriteMp4_Mpeg4Fallback_RoundTrip()
    {
        var frames = fx.Decoded(fx.MovingBox, 64, 64);
        string outFile = Path.Combine(fx.NewDir("mpeg4"), "fallback.mp4");
        VideoWriter.WriteMp4(outFile, frames, 64, 64, options: new VideoWriteOptions { Encoder = Mp4Encoder.Mpeg4 });
        string codec = Encoding.ASCII.GetString(Ffmpeg.Run(["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name", "-of", "csv=p=0", outFile], "ffprobe")).Trim();
        Assert.Equal("mpeg4", codec);
        double psnr = Ffmpeg.Psnr(frames, VideoReader.ReadFramesRgb24(outFile).ToList());
        Assert.True(psnr > 30, $"PSNR {psnr:F1} dB");
    }

    [Fact]
    public void WriteFrameStripPng_IsValidPngWithTheFramesSideBySide()
    {
        var frames = fx.Decoded(fx.MovingBox, 64, 64);
        var picks = Enumerable.Range(0, 8).Select(i => (int)Math.Round(i * 31 / 7.0)).ToArray();
        string outFile = Path.Combine(fx.NewDir("png"), "strip.png");
        VideoWriter.WriteFrameStripPng(outFile, picks.Select(t => frames[t]).ToList(), 64, 64);

        var (width, height, rgb) = ParsePng(File.ReadAllBytes(outFile));
        Assert.Equal((8 * 64, 64), (width, height));
        for (int i = 0; i < 8; i++)
        {
            int t = picks[i];
            for (int y = 0; y < 64; y++)
                Assert.True(frames[t].AsSpan(y * 64 * 3, 64 * 3).SequenceEqual(rgb.AsSpan((y * width + i * 64) * 3, 64 * 3)), $"strip tile {i} row {y} != frame {t}");
        }

        // ffmpeg decodes it to the same pixels.
        byte[] decoded = Ffmpeg.Run(["-v", "error", "-i", "file:" + outFile, "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]);
        Assert.Equal(rgb, decoded);
    }

    [Fact]
    public void WriteFrameStripPng_ThreeFrames_ThreeTilesWide()
    {
        var clip = VideoReader.ReadAllRgb24(fx.Testsrc, new VideoReadOptions { MaxFrames = 3, Width = 20, Height = 10 });
        string outFile = Path.Combine(fx.NewDir("png3"), "strip.png");
        VideoWriter.WriteFrameStripPng(outFile, clip.Frames, clip.Height, clip.Width);
        var (width, height, _) = ParsePng(File.ReadAllBytes(outFile));
        Assert.Equal((60, 10), (width, height));
    }

    [Fact]
    public void Writers_InvalidArguments_ThrowAndWriteNothing()
    {
        string dir = fx.NewDir("args");
        string f = Path.Combine(dir, "x.mp4");
        Assert.Throws<ArgumentException>(() => VideoWriter.WriteMp4(f, [new byte[10]], 4, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => VideoWriter.WriteMp4(f, [new byte[48]], 0, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => VideoWriter.WriteMp4(f, [new byte[48]], 4, 4, fps: 0));
        Assert.Throws<ArgumentException>(() => VideoWriter.WriteFrameStripPng(f, [], 4, 4));
        Assert.Throws<ArgumentException>(() => VideoWriter.WriteFrameStripPng(f, [new byte[47]], 4, 4));
        Assert.Empty(Directory.GetFileSystemEntries(dir));
    }

    /// <summary>Parses a PNG strictly: signature, chunk CRCs, 8-bit RGB IHDR, zlib IDAT with filter type 0 rows.</summary>
    private static (int Width, int Height, byte[] Rgb) ParsePng(byte[] png)
    {
        Assert.Equal(0xAE426082u, ReferenceCrc32("IEND"u8)); // the reference CRC itself is right
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        int pos = 8, width = 0, height = 0;
        var idat = new MemoryStream();
        var types = new List<string>();
        while (pos < png.Length)
        {
            int len = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(pos));
            string type = Encoding.ASCII.GetString(png, pos + 4, 4);
            var data = png.AsSpan(pos + 8, len);
            uint crc = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(pos + 8 + len));
            Assert.Equal(ReferenceCrc32(png.AsSpan(pos + 4, 4 + len)), crc);
            types.Add(type);
            if (type == "IHDR")
            {
                width = BinaryPrimitives.ReadInt32BigEndian(data);
                height = BinaryPrimitives.ReadInt32BigEndian(data[4..]);
                Assert.Equal(new byte[] { 8, 2, 0, 0, 0 }, data[8..13].ToArray());
            }
            else if (type == "IDAT")
            {
                idat.Write(data);
            }
            pos += 12 + len;
        }
        Assert.Equal("IHDR", types[0]);
        Assert.Equal("IEND", types[^1]);
        idat.Position = 0;
        using var z = new ZLibStream(idat, CompressionMode.Decompress);
        using var raw = new MemoryStream();
        z.CopyTo(raw);
        byte[] rows = raw.ToArray();
        Assert.Equal(height * (1 + width * 3), rows.Length);
        var rgb = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
        {
            Assert.Equal(0, rows[y * (1 + width * 3)]);
            Array.Copy(rows, y * (1 + width * 3) + 1, rgb, y * width * 3, width * 3);
        }
        return (width, height, rgb);
    }

    /// <summary>Bit-by-bit CRC-32 (independent of the library's table version).</summary>
    private static uint ReferenceCrc32(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            c ^= b;
            for (int k = 0; k < 8; k++)
                c = (c >> 1) ^ (0xEDB88320u & (uint)-(int)(c & 1));
        }
        return ~c;
    }
}
