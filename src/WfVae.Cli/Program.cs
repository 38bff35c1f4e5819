using System.CommandLine;
using WfVae.Cli.Commands;

var root = new RootCommand("wfvae: WF-VAE (Wavelet Flow VAE) video encoder/decoder on TorchSharp.")
{
    InfoCommand.Create(),
    EncodeCommand.Create(),
    DecodeCommand.Create(),
    TrainCommand.Create(),
    TrainCommand.CreateExport(),
};
return root.Parse(args).Invoke();
