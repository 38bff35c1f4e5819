namespace WfVae.Tests.Model;

/// <summary>Frame-count and size rules follow the config's compression factors, not literals.</summary>
public sealed class ShapeRulesTests
{
    [Fact]
    public void Released_layout_compresses_4x8x8()
    {
        var rules = new WfVaeConfig().ShapeRules;
        Assert.Equal((4, 8), (rules.TemporalFactor, rules.SpatialFactor));
        var tiny = WfVaeConfig.Load(Path.Combine(TestPaths.TinyModelDir, WfVaeModel.ConfigFileName));
        Assert.Equal(rules, tiny.ShapeRules);
        Assert.Equal((4, 8), (tiny.TemporalCompression, tiny.SpatialCompression));
    }

    [Theory]
    [InlineData(2, 16, 8, 9, "8 frames is not 1 + 2k (nearest valid: 7 or 9)")]
    [InlineData(3, 4, 6, 7, "6 frames is not 1 + 3k (nearest valid: 4 or 7)")]
    [InlineData(8, 16, 10, 17, "10 frames is not 1 + 8k (nearest valid: 9 or 17)")]
    public void Other_factors_give_their_own_valid_counts(int tf, int sf, int frames, long padded, string message)
    {
        var rules = new VideoShapeRules(tf, sf);
        Assert.Equal(padded, rules.PadFrameCountOrSelf(frames));
        Assert.Equal((padded - 1) / tf + 1, rules.LatentFrames(padded));
        Assert.Equal(padded, rules.VideoFrames(rules.LatentFrames(padded)));
        if (rules.IsValidFrameCount(frames)) return;
        var e = Assert.Throws<ArgumentException>(() => rules.Validate(frames, sf, sf));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Sides_and_chunks_follow_the_factors()
    {
        var rules = new VideoShapeRules(2, 16);
        Assert.True(rules.IsValidSide(48));
        Assert.False(rules.IsValidSide(40));
        Assert.Equal(48, rules.PaddedSide(40));
        Assert.Equal(3, rules.LatentSide(48));
        Assert.Contains("width 40 is not a multiple of 16 (nearest valid: 32 or 48)", Assert.Throws<ArgumentException>(() => rules.Validate(3, 16, 40)).Message);
        Assert.True(rules.IsValidChunkFrames(6));
        Assert.Contains("multiple of 2 video frames", Assert.Throws<ArgumentOutOfRangeException>(() => rules.ValidateChunkFrames(5)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new VideoShapeRules(0, 8));
    }
}
