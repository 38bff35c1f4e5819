namespace WfVae;

/// <summary>
/// Finds the small WF-VAE this project trains and ships (models/wfvae-default in the repository, copied next
/// to the CLI, and into a consumer's output folder by the WfVae.Models.Default package), so the main job runs
/// offline when no model folder is given.
/// </summary>
public static class DefaultModel
{
    /// <summary>Environment variable that overrides the default model folder.</summary>
    public const string EnvironmentVariable = "WFVAE_MODEL";

    /// <summary>Folder name of the shipped model.</summary>
    public const string FolderName = "wfvae-default";

    /// <summary>Where the default model is looked for, in order.</summary>
    public static string SearchDescription =>
        $"${EnvironmentVariable}, {Path.Combine(AppContext.BaseDirectory, "models", FolderName)}" +
        (PackageCacheCandidate() is { } p ? $", {p}" : "") + $", models/{FolderName} above the program folder";

    /// <summary>
    /// The first folder holding config.json and weights, or null. A set <c>WFVAE_MODEL</c> that names no model folder
    /// is an error, never a silent fall-back to the shipped model.
    /// </summary>
    public static string? Directory
    {
        get
        {
            if (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } env && !IsModelFolder(env))
                throw new DirectoryNotFoundException($"${EnvironmentVariable} is '{env}', which is not a WF-VAE model folder (it needs {WfVaeModel.ConfigFileName} and {WfVaeModel.WeightsFileName}); fix or unset it.");
            return Candidates().FirstOrDefault(IsModelFolder);
        }
    }

    private static IEnumerable<string> Candidates()
    {
        if (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } env) yield return env;
        yield return Path.Combine(AppContext.BaseDirectory, "models", FolderName);
        if (PackageCacheCandidate() is { } package) yield return package;
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            yield return Path.Combine(d.FullName, "models", FolderName);
    }

    // Hosts that load packages straight from the NuGet cache (.NET Interactive's #r "nuget:") copy nothing to an
    // output folder: there the model package sits beside WfVae.Core's, as <root>/wfvae.models.default/<version>/.
    private static string? PackageCacheCandidate()
    {
        var tfm = new DirectoryInfo(Path.GetDirectoryName(typeof(DefaultModel).Assembly.Location) is { Length: > 0 } l ? l : ".");
        if (tfm.Parent is not { Name: "lib" } lib || lib.Parent is not { } version || version.Parent is not { } id || id.Parent is not { } root) return null;
        if (!id.Name.Equals("wfvae.core", StringComparison.OrdinalIgnoreCase)) return null;
        return Path.Combine(root.FullName, "wfvae.models.default", version.Name, "models", FolderName);
    }

    private static bool IsModelFolder(string dir) =>
        File.Exists(Path.Combine(dir, WfVaeModel.ConfigFileName)) && File.Exists(Path.Combine(dir, WfVaeModel.WeightsFileName));
}
