using TorchSharp;
using TorchSharp.Modules;
using WfVae.Modules;
using static TorchSharp.torch;

namespace WfVae.Training;

/// <summary>
/// The official <c>NLayerDiscriminator3D(input_nc=3, ndf, n_layers)</c> (discriminator.py, spec §7.2): a 3D PatchGAN.
/// Conv3d(3→ndf, k3, s2, p1) + LeakyReLU(0.2); for n = 1..n_layers−1: Conv3d(k3, stride (2,2,2) for n = 1 else (1,2,2),
/// p1, no bias) to ndf·min(2ⁿ, 8) + BatchNorm3d + LeakyReLU(0.2) + Dropout(0.3); then Conv3d(k3, s1, p1, no bias) +
/// BN + LReLU + Dropout; then Conv3d(→1, k3, s1, p1). Convs are initialised N(0, 0.02), BN weights N(1, 0.02), BN bias 0.
/// All randomness (initial weights, dropout masks) comes from generators the caller passes in.
/// </summary>
internal sealed class PatchDiscriminator3D : nn.Module<Tensor, Generator, Tensor>
{
    private const double DropoutProbability = 0.3;
    private readonly ModuleList<nn.Module> main;

    /// <param name="ndf">Width of the first layer.</param>
    /// <param name="nLayers">Number of strided layers.</param>
    /// <param name="initialWeights">Generator of the initial weights.</param>
    public PatchDiscriminator3D(int ndf, int nLayers, Generator initialWeights) : base("NLayerDiscriminator3D")
    {
        var layers = new List<nn.Module> { new DiscriminatorConv(3, ndf, (2, 2, 2), hasBias: true), nn.LeakyReLU(0.2, inplace: true) };
        int mult = 1;
        for (int n = 1; n < nLayers; n++)
        {
            int prev = mult;
            mult = Math.Min(1 << n, 8);
            layers.Add(new DiscriminatorConv(ndf * prev, ndf * mult, n == 1 ? (2, 2, 2) : (1, 2, 2), hasBias: false));
            layers.Add(nn.BatchNorm3d(ndf * mult));
            layers.Add(nn.LeakyReLU(0.2, inplace: true));
            layers.Add(new DiscriminatorDropout());
        }
        int last = mult;
        mult = Math.Min(1 << nLayers, 8);
        layers.Add(new DiscriminatorConv(ndf * last, ndf * mult, (1, 1, 1), hasBias: false));
        layers.Add(nn.BatchNorm3d(ndf * mult));
        layers.Add(nn.LeakyReLU(0.2, inplace: true));
        layers.Add(new DiscriminatorDropout());
        layers.Add(new DiscriminatorConv(ndf * mult, 1, (1, 1, 1), hasBias: true));
        main = nn.ModuleList(layers.ToArray());
        RegisterComponents();
        Initialise(initialWeights);
    }

    private void Initialise(Generator g)
    {
        using var _ = no_grad();
        foreach (var m in main)
        {
            switch (m)
            {
                case DiscriminatorConv conv:
                    ConvWeights.InitialiseDefault(conv.weight, conv.bias, g); // the bias keeps PyTorch's default; the weight is redrawn
                    conv.weight.normal_(0.0, 0.02, g);
                    break;
                case BatchNorm3d bn:
                    bn.weight!.normal_(1.0, 0.02, g);
                    bn.bias!.zero_();
                    break;
            }
        }
    }

    /// <summary>Patch logits of <paramref name="x"/>; in training mode the dropout masks are drawn from <paramref name="dropoutRandom"/>.</summary>
    public override Tensor forward(Tensor x, Generator dropoutRandom)
    {
        using var scope = NewDisposeScope();
        var h = x;
        foreach (var m in main)
        {
            h = m switch
            {
                DiscriminatorDropout => training ? GeneratorDropout.Apply(h, DropoutProbability, dropoutRandom) : h,
                DiscriminatorConv conv => conv.forward(h),
                nn.Module<Tensor, Tensor> layer => layer.forward(h),
                _ => throw new InvalidOperationException($"unexpected discriminator layer {m.GetName()}."),
            };
        }
        return scope.MoveToOuter(h);
    }

    /// <summary>Conv3d(k3, p1) with the given stride, holding <c>weight</c>/<c>bias</c> under nn.Conv3d's names (zeros until initialised).</summary>
    private sealed class DiscriminatorConv : nn.Module<Tensor, Tensor>
    {
        private readonly long[] _stride;
        public Parameter weight;
        public Parameter? bias;

        public DiscriminatorConv(long inCh, long outCh, (long T, long H, long W) stride, bool hasBias) : base("Conv3d")
        {
            _stride = [stride.T, stride.H, stride.W];
            weight = Parameters.Create(zeros([outCh, inCh, 3, 3, 3]));
            register_parameter("weight", weight);
            if (hasBias)
            {
                bias = Parameters.Create(zeros(outCh));
                register_parameter("bias", bias);
            }
        }

        public override Tensor forward(Tensor x) => nn.functional.conv3d(x, weight, bias, strides: _stride, padding: [1, 1, 1]);
    }

    /// <summary>Marks where the official network has Dropout(0.3); applied by <see cref="forward"/> with the caller's generator.</summary>
    private sealed class DiscriminatorDropout() : nn.Module("Dropout");
}
