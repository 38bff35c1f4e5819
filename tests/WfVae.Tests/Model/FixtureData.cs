using TorchSharp;
using static TorchSharp.torch;

namespace WfVae.Tests.Model;

/// <summary>Reads fixture tensors and compares tensors with a max-abs-diff tolerance.</summary>
internal static class FixtureData
{
    public static Tensor Load(string file, string name)
    {
        using var r = new SafetensorsReader(TestPaths.Fixture(file));
        return r.Read(name);
    }

    public static double MaxAbsDiff(Tensor a, Tensor b)
    {
        Assert.Equal(b.shape, a.shape);
        using var d = (a.to(ScalarType.Float64) - b.to(ScalarType.Float64)).abs().max();
        return d.item<double>();
    }

    public static void AssertClose(Tensor expected, Tensor actual, double tol, string what)
    {
        double diff = MaxAbsDiff(actual, expected);
        Assert.True(diff <= tol, $"{what}: max abs diff {diff:E3} exceeds {tol:E1}");
    }
}
