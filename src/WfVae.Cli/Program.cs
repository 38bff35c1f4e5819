using System.CommandLine;
using WfVae.Cli.Commands;

var root = new RootCommand("wfvae: WF-VAE (Wavelet Flow VAE) video encoder/decoder on TorchSharp.")
{
    InfoCommand.Create(),
    EncodeCommand.Create(),
    BenchCommand.Create(),
    DecodeCommand.Create(),
    TrainCommand.Create(),
    TrainCommand.CreateExport(),
    ReconstructCommand.Create(),
    DatasetCommand.Create(),
};
return root.Parse(args).Invoke();
