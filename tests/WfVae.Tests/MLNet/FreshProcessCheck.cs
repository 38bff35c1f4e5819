using System.Diagnostics;
using System.Text.Json;
using Microsoft.ML;
using WfVae.Tests.MLNet;

/// <summary>
/// Entry point of the fresh-process save/load check. <see cref="FreshProcessCheck.Run"/> starts this test assembly again with
/// <c>dotnet exec</c> and <c>DOTNET_STARTUP_HOOKS</c> naming it, so the runtime calls <see cref="Initialize"/> before the (empty)
/// test-SDK Main; with <c>WFVAE_MLNET_LOADCHECK</c> set it loads a saved ML.NET model, transforms the given rows, writes the
/// requested columns and exits. Without that variable (every normal test run) it does nothing.
/// </summary>
internal static class StartupHook
{
    public static void Initialize()
    {
        string? request = Environment.GetEnvironmentVariable(FreshProcessCheck.RequestVariable);
        if (string.IsNullOrEmpty(request)) return;
        int code = 0;
        try
        {
            FreshProcessCheck.Serve(request);
        }
        catch (Exception e)
        {
            Console.Error.WriteLine(e);
            code = 3;
        }
        Environment.Exit(code);
    }
}

namespace WfVae.Tests.MLNet
{
    /// <summary>What the child process does, and how a test starts it.</summary>
    internal static class FreshProcessCheck
    {
        public const string RequestVariable = "WFVAE_MLNET_LOADCHECK";

        public sealed record Request(string ModelPath, string[] Paths, string[] Columns, string OutputPath);

        /// <summary>In the child: load the model, transform the paths, write each column's values as JSON.</summary>
        public static void Serve(string requestFile)
        {
            var req = JsonSerializer.Deserialize<Request>(File.ReadAllText(requestFile))!;
            var ml = new MLContext(seed: 1);
            var model = ml.Model.Load(req.ModelPath, out var inputSchema);
            var view = model.Transform(MLNetTestData.Paths(ml, req.Paths));
            var result = new Dictionary<string, object>
            {
                ["types"] = req.Columns.Select(c => view.Schema[c].Type.ToString()).ToArray(),
                ["values"] = MLNetTestData.Columns(view, req.Columns),
                ["processId"] = Environment.ProcessId,
            };
            File.WriteAllText(req.OutputPath, JsonSerializer.Serialize(result));
        }

        /// <summary>In a test: run the check in a new process; returns per column its type text and its rows.</summary>
        public static (string[] Types, float[][][] Values, int ProcessId) Run(string modelPath, string[] paths, string[] columns)
        {
            string dir = Directory.CreateTempSubdirectory("wfvae-loadcheck-").FullName;
            try
            {
                string requestFile = Path.Combine(dir, "request.json"), output = Path.Combine(dir, "result.json");
                File.WriteAllText(requestFile, JsonSerializer.Serialize(new Request(modelPath, paths, columns, output)));
                string assembly = typeof(FreshProcessCheck).Assembly.Location;
                string baseName = Path.Combine(Path.GetDirectoryName(assembly)!, Path.GetFileNameWithoutExtension(assembly));
                var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
                {
                    RedirectStandardError = true,
                    RedirectStandardOutput = true,
                    UseShellExecute = false,
                    WorkingDirectory = dir,
                };
                foreach (var a in new[] { "exec", "--runtimeconfig", baseName + ".runtimeconfig.json", "--depsfile", baseName + ".deps.json", assembly })
                    psi.ArgumentList.Add(a);
                psi.Environment["DOTNET_STARTUP_HOOKS"] = assembly;
                psi.Environment[RequestVariable] = requestFile;
                using var p = Process.Start(psi)!;
                var stderr = p.StandardError.ReadToEndAsync();
                var stdout = p.StandardOutput.ReadToEndAsync();
                if (!p.WaitForExit(TimeSpan.FromMinutes(2)))
                {
                    p.Kill(entireProcessTree: true);
                    throw new TimeoutException("The fresh-process load check did not finish in 2 minutes.");
                }
                if (p.ExitCode != 0 || !File.Exists(output))
                    throw new InvalidOperationException($"The fresh-process load check failed (exit {p.ExitCode}): {stderr.Result}{stdout.Result}");
                using var doc = JsonDocument.Parse(File.ReadAllText(output));
                var types = doc.RootElement.GetProperty("types").Deserialize<string[]>()!;
                var values = doc.RootElement.GetProperty("values").Deserialize<float[][][]>()!;
                return (types, values, doc.RootElement.GetProperty("processId").GetInt32());
            }
            finally
            {
                try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
            }
        }
    }
}
