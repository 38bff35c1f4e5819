// Executes .NET Interactive notebooks headlessly, cell by cell, in a C# kernel with the NuGet directives (#r "nuget:",
// #i) and package extensions (interactive-extensions/dotnet/extension.dib), as Polyglot Notebooks would. For each
// notebook it writes OUT/NAME.ipynb with every cell's outputs and OUT/NAME/cell-NN-K.png for every image shown.
// Exit 0 when every cell of every notebook ran without an error; 1 otherwise (the failing cell and its error are printed).
using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Commands;
using Microsoft.DotNet.Interactive.CSharp;
using Microsoft.DotNet.Interactive.Documents;
using Microsoft.DotNet.Interactive.Documents.Jupyter;
using Microsoft.DotNet.Interactive.Events;
using Microsoft.DotNet.Interactive.PackageManagement;
using WfVae.Files;

var notebooks = new List<string>();
string outDir = "out/notebooks";
var cellTimeout = TimeSpan.FromMinutes(10);
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--out" when i + 1 < args.Length: outDir = args[++i]; break;
        case "--cell-timeout" when i + 1 < args.Length && int.TryParse(args[i + 1], out int s) && s > 0: cellTimeout = TimeSpan.FromSeconds(s); i++; break;
        case var a when a.EndsWith(".ipynb", StringComparison.OrdinalIgnoreCase): notebooks.Add(Path.GetFullPath(a)); break;
        default:
            Console.Error.WriteLine($"error: unexpected argument '{args[i]}'. Usage: NotebookRunner NOTEBOOK.ipynb... [--out DIR] [--cell-timeout SECONDS]");
            return 2;
    }
}
if (notebooks.Count == 0) { Console.Error.WriteLine("error: no notebook given. Usage: NotebookRunner NOTEBOOK.ipynb... [--out DIR] [--cell-timeout SECONDS]"); return 2; }
outDir = Path.GetFullPath(outDir);
Directory.CreateDirectory(outDir);

int failedNotebooks = 0;
foreach (string path in notebooks)
    if (!await RunNotebook(path)) failedNotebooks++;
Console.WriteLine($"ran {notebooks.Count} notebook(s): {notebooks.Count - failedNotebooks} ok, {failedNotebooks} failed");
// The kernel's package-restore context and native libraries are process-wide; end here rather than unwinding them.
Environment.Exit(failedNotebooks == 0 ? 0 : 1);
return 0;

async Task<bool> RunNotebook(string path)
{
    string name = Path.GetFileNameWithoutExtension(path);
    if (!File.Exists(path)) { Console.WriteLine($"notebook {name}: FAILED: '{path}' does not exist"); return false; }
    var document = Notebook.Parse(await File.ReadAllTextAsync(path));
    // Relative paths in cells mean the notebook's folder, as in an editor.
    Environment.CurrentDirectory = Path.GetDirectoryName(path)!;

    var packageRoots = new List<string>();
    // A composite kernel around the C# one, as in Polyglot Notebooks, so directives can take values (#i @csharp:feed).
    using var kernel = new CompositeKernel
    {
        new CSharpKernel()
            .UseKernelHelpers()
            .UseValueSharing()
            .UseNugetDirective((k, resolved) =>
            {
                k.AddAssemblyReferences(resolved.SelectMany(r => r.AssemblyPaths));
                lock (packageRoots) packageRoots.AddRange(resolved.Select(r => r.PackageRoot));
                return Task.CompletedTask;
            }, forceRestore: true) // never a cached restore result: the packages must come from this run's feed and cache
    };
    kernel.DefaultKernelName = "csharp";
    var extensionsLoaded = new HashSet<string>(StringComparer.Ordinal);

    string imageDir = Path.Combine(outDir, name);
    if (Directory.Exists(imageDir)) Directory.Delete(imageDir, recursive: true);
    Directory.CreateDirectory(imageDir);

    int cellNumber = 0, order = 0;
    bool ok = true;
    var clock = Stopwatch.StartNew();
    foreach (var cell in document.Elements)
    {
        cellNumber++;
        if (cell.KernelName is not ("csharp" or "C#" or "c#" or null)) continue;
        cell.Outputs.Clear();
        if (string.IsNullOrWhiteSpace(cell.Contents)) continue;
        var cellClock = Stopwatch.StartNew();
        var (failure, outputs) = await Submit(kernel, cell.Contents);
        cell.Outputs.AddRange(outputs);
        // What Polyglot Notebooks does after a restore: run the extension script of each newly added package.
        string[] roots;
        lock (packageRoots) roots = packageRoots.ToArray();
        foreach (string root in roots.Where(extensionsLoaded.Add))
        {
            string script = Path.Combine(root, "interactive-extensions", "dotnet", "extension.dib");
            if (failure is not null || !File.Exists(script)) continue;
            foreach (var part in CodeSubmission.Parse(await File.ReadAllTextAsync(script)).Elements.Where(e => e.KernelName is "csharp" or null))
            {
                var (extensionFailure, extensionOutputs) = await Submit(kernel, part.Contents);
                cell.Outputs.AddRange(extensionOutputs);
                if (extensionFailure is not null) { failure = $"the extension script {script} failed: {extensionFailure}"; break; }
            }
        }
        cell.ExecutionOrder = ++order;
        foreach (var output in cell.Outputs.OfType<ReturnValueElement>()) output.ExecutionOrder = order;
        int images = SaveImages(cell.Outputs, imageDir, cellNumber);
        string first = cell.Contents.Split('\n').First().Trim();
        Console.WriteLine($"  {name} cell {cellNumber} ({cellClock.Elapsed.TotalSeconds:F1} s{(images > 0 ? $", {images} image(s)" : "")}): {(failure is null ? "ok" : "FAILED")}  {first[..Math.Min(first.Length, 70)]}");
        foreach (var text in cell.Outputs.OfType<TextElement>())
            foreach (string line in text.Text.TrimEnd().Split('\n').TakeLast(12))
                Console.WriteLine($"      | {line}");
        if (failure is not null)
        {
            Console.WriteLine($"notebook {name}: FAILED at cell {cellNumber}:\n{failure}");
            ok = false;
            break; // later cells depend on this one
        }
    }

    string executed = Path.Combine(outDir, name + ".ipynb");
    AtomicFileWriter.WriteAllText(executed, Notebook.ToJupyterJson(document));
    if (ok) Console.WriteLine($"notebook {name}: ok, {order} cells in {clock.Elapsed.TotalSeconds:F0} s; executed notebook {executed}, images under {imageDir}");
    return ok;
}

async Task<(string? Failure, List<InteractiveDocumentOutputElement> Outputs)> Submit(Kernel kernel, string code)
{
    using var cancel = new CancellationTokenSource(cellTimeout);
    KernelCommandResult result;
    try { result = await kernel.SendAsync(new SubmitCode(code, "csharp"), cancel.Token); }
    catch (OperationCanceledException) { return ($"the cell did not finish within {cellTimeout.TotalSeconds:F0} s", []); }
    var outputs = new List<InteractiveDocumentOutputElement>();
    var displayed = new Dictionary<string, int>();
    string? failure = null;
    foreach (var e in result.Events)
    {
        switch (e)
        {
            case StandardOutputValueProduced o: outputs.Add(new TextElement(PlainText(o), "stdout")); break;
            case StandardErrorValueProduced o: outputs.Add(new TextElement(PlainText(o), "stderr")); break;
            case ReturnValueProduced r:
                var value = new ReturnValueElement();
                foreach (var f in r.FormattedValues) value.Data[f.MimeType] = f.Value;
                outputs.Add(value);
                break;
            case ErrorProduced err:
                outputs.Add(new ErrorElement("Error", err.Message, []));
                failure ??= err.Message;
                break;
            case DisplayEvent d:
                var shown = new DisplayElement(d.FormattedValues.ToDictionary(f => f.MimeType, f => (object)f.Value));
                // An update (package-restore progress, say) replaces what that value showed before, as in an editor.
                if (d is DisplayedValueUpdated && d.ValueId is { } id && displayed.TryGetValue(id, out int at)) outputs[at] = shown;
                else
                {
                    if (d.ValueId is { } newId) displayed[newId] = outputs.Count;
                    outputs.Add(shown);
                }
                break;
            case CommandFailed f:
                outputs.Add(new ErrorElement(f.Exception?.GetType().Name ?? "Error", f.Message, f.Exception?.StackTrace?.Split('\n') ?? []));
                failure = f.Exception is null ? f.Message : $"{f.Message}\n{f.Exception}";
                break;
        }
    }
    return (failure, outputs);
}

static string PlainText(DisplayEvent e) => e.FormattedValues.FirstOrDefault(f => f.MimeType == "text/plain")?.Value ?? e.FormattedValues.FirstOrDefault()?.Value ?? "";

// Images travel as image/png data or inside HTML as data: URIs (what our formatters emit); each becomes a file.
static int SaveImages(IEnumerable<InteractiveDocumentOutputElement> outputs, string folder, int cell)
{
    int k = 0;
    foreach (var data in outputs.Select(o => o switch { DisplayElement d => d.Data, ReturnValueElement r => r.Data, _ => null }).OfType<IDictionary<string, object>>())
    {
        var encoded = new List<string>();
        if (data.TryGetValue("image/png", out var png) && png is string b64) encoded.Add(b64);
        if (data.TryGetValue("text/html", out var html) && html is string h)
            encoded.AddRange(Regex.Matches(h, "data:image/png;base64,([A-Za-z0-9+/=]+)").Select(m => m.Groups[1].Value));
        foreach (string image in encoded)
        {
            byte[] bytes = Convert.FromBase64String(image);
            AtomicFileWriter.WriteFile(Path.Combine(folder, $"cell-{cell:D2}-{++k}.png"), s => s.Write(bytes));
        }
    }
    return k;
}
