using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace WfVae.Training;

/// <summary>
/// The official <c>NLayerDiscriminator3D(input_nc=3, ndf, n_layers)</c> (discriminator.py, spec §7.2): a 3D PatchGAN.
/// Conv3d(3→ndf, k3, s2, p1) + LeakyReLU(0.2); for n = 1..n_layers−1: Conv3d(k3, stride (2,2,2) for n = 1 else (1,2,2),
/// p1, no bias) to ndf·min(2ⁿ, 8) + BatchNorm3d + LeakyReLU(0.2) + Dropout(0.3); then Conv3d(k3, s1, p1, no bias) +
/// BN + LReLU + Dropout; then Conv3d(→1, k3, s1, p1). Convs are initialised N(0, 0.02), BN weights N(1, 0.02), BN bias 0.
/// </summary>
internal sealed class PatchDiscriminator3D : nn.Module<Tensor, Tensor>
{
    private readonly Sequential main;

    public PatchDiscriminator3D(int ndf = 64, int nLayers = 4) : base("NLayerDiscriminator3D")
    {
        var layers = new List<(string, nn.Module<Tensor, Tensor>)>
        {
            ("0", nn.Conv3d(3, ndf, 3, stride: 2, padding: 1)),
            ("1", nn.LeakyReLU(0.2, inplace: true)),
        };
        int mult = 1, idx = 2;
        for (int n = 1; n < nLayers; n++)
        {
            int prev = mult;
            mult = Math.Min(1 << n, 8);
            var stride = n == 1 ? (2L, 2L, 2L) : (1L, 2L, 2L);
            layers.Add(($"{idx++}", nn.Conv3d(ndf * prev, ndf * mult, (3L, 3L, 3L), stride: stride, padding: (1L, 1L, 1L), bias: false)));
            layers.Add(($"{idx++}", nn.BatchNorm3d(ndf * mult)));
            layers.Add(($"{idx++}", nn.LeakyReLU(0.2, inplace: true)));
            layers.Add(($"{idx++}", nn.Dropout(0.3)));
        }
        int last = mult;
        mult = Math.Min(1 << nLayers, 8);
        layers.Add(($"{idx++}", nn.Conv3d(ndf * last, ndf * mult, 3, stride: 1, padding: 1, bias: false)));
        layers.Add(($"{idx++}", nn.BatchNorm3d(ndf * mult)));
        layers.Add(($"{idx++}", nn.LeakyReLU(0.2, inplace: true)));
        layers.Add(($"{idx++}", nn.Dropout(0.3)));
        layers.Add(($"{idx}", nn.Conv3d(ndf * mult, 1, 3, stride: 1, padding: 1)));
        main = nn.Sequential(layers);
        RegisterComponents();
        Initialise();
    }

    private void Initialise()
    {
        using var _ = no_grad();
        foreach (var m in main.children())
        {
            switch (m)
            {
                case Conv3d conv:
                    nn.init.normal_(conv.weight, 0.0, 0.02);
                    break;
                case BatchNorm3d bn:
                    nn.init.normal_(bn.weight, 1.0, 0.02);
                    nn.init.zeros_(bn.bias);
                    break;
            }
        }
    }

    public override Tensor forward(Tensor x) => main.forward(x);
}
