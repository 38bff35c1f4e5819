using static TorchSharp.torch;

namespace WfVae.Tests.Pipeline;

/// <summary>The one frames ↔ tensor bridge: layout, range, rounding, clamping and non-finite values.</summary>
public sealed class FrameTensorsTests
{
    [Fact]
    public void Rgb24_to_planar_and_back_is_exact()
    {
        const int h = 4, w = 5, t = 3;
        var frames = Enumerable.Range(0, t).Select(i => Enumerable.Range(0, h * w * 3).Select(p => (byte)((p * 7 + i * 31) % 256)).ToArray()).ToArray();
        frames[0][0] = 0;
        frames[1][1] = 255;
        using var video = FrameTensors.FromRgb24(frames, h, w);
        Assert.Equal(new long[] { 1, 3, t, h, w }, video.shape);
        var data = video.data<float>().ToArray();
        for (int c = 0; c < 3; c++)
        for (int i = 0; i < t; i++)
        for (int p = 0; p < h * w; p++)
            Assert.Equal(frames[i][p * 3 + c] / 127.5f - 1f, data[(c * t + i) * h * w + p]);
        Assert.Equal(-1f, data.Min());
        Assert.Equal(1f, data.Max());
        Assert.Equal(frames, FrameTensors.ToRgb24(video));
    }

    [Fact]
    public void Every_byte_value_survives_the_round_trip()
    {
        var frame = Enumerable.Range(0, 256).Select(b => (byte)b).Concat(Enumerable.Repeat((byte)0, 2 * 256)).ToArray(); // 16x16x3
        using var video = FrameTensors.FromRgb24([frame], 16, 16);
        Assert.Equal(frame, FrameTensors.ToRgb24(video)[0]);
    }

    [Fact]
    public void Out_of_range_values_are_clamped_and_rounded()
    {
        using var video = tensor(new float[] { 5f, -7f, 0.0039f, 0f }, [1, 3, 1, 1, 1]).narrow(1, 0, 3).contiguous();
        Assert.Equal(new byte[] { 255, 0, 128 }, FrameTensors.ToRgb24(video)[0]);
    }

    [Fact]
    public void Non_finite_values_are_an_error_naming_the_frame()
    {
        using var video = zeros(new long[] { 1, 3, 4, 2, 2 });
        video[0, 1, 2, 1, 0] = tensor(float.NaN);
        var e = Assert.Throws<ArithmeticException>(() => FrameTensors.ToRgb24(video, firstFrameIndex: 10));
        Assert.Contains("from frame 12", e.Message);
    }

    [Fact]
    public void Frames_of_the_wrong_size_are_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => FrameTensors.FromRgb24([new byte[12], new byte[11]], 2, 2));
        Assert.Contains("frame 1 has 11 bytes", e.Message);
    }
}
