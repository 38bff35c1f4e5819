using System.CommandLine;
using System.CommandLine.Help;
using WfVae.Cli.Commands;

// Named "wfvae" (a RootCommand takes the assembly's name, WfVae.Cli) so that usage lines and errors say what users type.
var root = new Command("wfvae", "wfvae: WF-VAE (Wavelet Flow VAE) video encoder/decoder on TorchSharp.")
{
    new HelpOption(),
    new VersionOption(),
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
