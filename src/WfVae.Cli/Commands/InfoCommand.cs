using System.CommandLine;

namespace WfVae.Cli.Commands;

/// <summary><c>wfvae info</c>: config, parameter count and the latent shape for an input size.</summary>
internal static class InfoCommand
{
    public static Command Create()
    {
        var model = CliSupport.ModelOption();
        var frames = new Option<int>("--frames") { Description = "Input frames (1 + 4k).", DefaultValueFactory = _ => 17 };
        var height = new Option<int>("--height") { Description = "Input height (multiple of 8).", DefaultValueFactory = _ => 256 };
        var width = new Option<int>("--width") { Description = "Input width (multiple of 8).", DefaultValueFactory = _ => 256 };
        var cmd = new Command("info", "Show a model's config, parameter count and latent shape.") { model, frames, height, width };
        cmd.SetAction(r => CliSupport.Run(() =>
        {
            using var m = CliSupport.LoadModel(r.GetValue(model), "cpu");
            var c = m.Config;
            Console.WriteLine($"model: {m.SourceDirectory}");
            Console.WriteLine($"class: {c.ClassName}  latent_dim: {c.LatentDim}  base_channels: {c.BaseChannels}  norm: {c.NormType}  t_interpolation: {c.TInterpolation}");
            Console.WriteLine($"encoder: {c.EncoderNumResBlocks} resblocks, energy flow {c.EncoderEnergyFlowHiddenSize}; decoder: {c.DecoderNumResBlocks} resblocks, energy flow {c.DecoderEnergyFlowHiddenSize}, connect_res_layer_num {c.ConnectResLayerNum}; attention: {c.UseAttention}");
            Console.WriteLine($"parameters: {m.ParameterCount:N0} (encoder {m.EncoderParameterCount:N0}, decoder {m.ParameterCount - m.EncoderParameterCount:N0})");
            var shape = m.LatentShape(1, r.GetValue(frames), r.GetValue(height), r.GetValue(width));
            Console.WriteLine($"input [1,3,{r.GetValue(frames)},{r.GetValue(height)},{r.GetValue(width)}] -> latent [{string.Join(",", shape)}]");
            return 0;
        }));
        return cmd;
    }
}
