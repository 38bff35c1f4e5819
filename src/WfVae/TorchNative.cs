using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using WfVae.Files;

namespace WfVae;

/// <summary>
/// Makes TorchSharp's native shim loadable in hosts that run no MSBuild targets, such as a .NET Interactive kernel
/// (<c>#r "nuget: WfVae.MLNet"</c>), where WfVae.Core's build-time Debian 12 fix cannot reach. TorchSharp 0.107's
/// <c>libLibTorchSharp.so</c> asks for <c>GLIBCXX_3.4.32</c> only for a version marker; when the loader refuses it,
/// a copy with those version needs marked weak is written (once, content-addressed) under the user's local data
/// folder and loaded, after the libtorch libraries it links to, so that TorchSharp's own load by name finds it
/// (glibc matches the loaded copy's SONAME). The file in the NuGet cache is never written. Runs by itself the first
/// time any WfVae type is used; call <see cref="EnsureLoaded"/> before using TorchSharp directly.
/// </summary>
public static class TorchNative
{
    private const string ShimName = "LibTorchSharp", ShimFile = "libLibTorchSharp.so";
    // The shim's own dependencies, loaded first: the copy lives in another folder, so its $ORIGIN RUNPATH finds none of them.
    private static readonly string[] s_shimDependencies = ["c10", "torch_cpu", "torch"];
    private static readonly object s_gate = new();
    private static string? s_loadedFrom;

    /// <summary>Where the shim was loaded from by this class, or null when TorchSharp can load it without help.</summary>
    public static string? PatchedShimPath { get { lock (s_gate) return s_loadedFrom; } }

    [ModuleInitializer]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2255", Justification = "a library that loads natives before its first tensor is the case this attribute exists for")]
    internal static void LoadWhenWfVaeIsFirstUsed()
    {
        try { EnsureLoaded(); }
        catch (Exception) { } // a module initializer must not throw; TorchSharp's first use (or EnsureLoaded) reports the cause
    }

    /// <summary>
    /// Makes sure TorchSharp's native shim can be loaded; a no-op where it already can (builds through WfVae.Core's
    /// targets, other systems). Throws with what was tried when no shim or no libtorch backend can be found.
    /// </summary>
    public static void EnsureLoaded()
    {
        if (!OperatingSystem.IsLinux()) return;
        lock (s_gate)
        {
            if (s_loadedFrom is not null) return;
            var torchSharp = typeof(TorchSharp.torch).Assembly;
            if (TryLoadByName(ShimName, torchSharp, out _)) return;

            string source = FindShim(torchSharp) ?? throw new DllNotFoundException(
                $"TorchSharp's {ShimFile} cannot be loaded and was not found in {string.Join(", ", ShimCandidates(torchSharp))}; reference the TorchSharp package (WfVae.Core does).");
            var missing = s_shimDependencies.Where(d => !TryLoadByName(d, torchSharp, out _)).ToList();
            if (missing.Count > 0)
                throw new DllNotFoundException($"libtorch ({string.Join(", ", missing.Select(d => $"lib{d}.so"))}) cannot be loaded: no native backend is referenced. Add it: #r \"nuget: libtorch-cpu-linux-x64, 2.10.0\" in a notebook, or dotnet add package libtorch-cpu-linux-x64 --version 2.10.0.");
            string patched = WritePatchedCopy(source);
            try { NativeLibrary.Load(patched); }
            catch (DllNotFoundException e) { throw new DllNotFoundException($"the patched copy '{patched}' of '{source}' does not load either: {e.Message}", e); }
            s_loadedFrom = patched;
        }
    }

    private static bool TryLoadByName(string name, System.Reflection.Assembly from, out IntPtr handle)
    {
        handle = IntPtr.Zero;
        try { return NativeLibrary.TryLoad(name, from, null, out handle); }
        catch (Exception) { return false; } // a host's resolving handler may throw where the plain load would say false
    }

    private static IEnumerable<string> ShimCandidates(System.Reflection.Assembly torchSharp)
    {
        string rid = $"linux-{RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant()}";
        string lib = Path.GetDirectoryName(torchSharp.Location) ?? AppContext.BaseDirectory;
        yield return Path.GetFullPath(Path.Combine(lib, "..", "..", "runtimes", rid, "native", ShimFile)); // the NuGet package layout
        yield return Path.Combine(lib, ShimFile);
        yield return Path.Combine(AppContext.BaseDirectory, "runtimes", rid, "native", ShimFile);
        yield return Path.Combine(AppContext.BaseDirectory, ShimFile);
    }

    private static string? FindShim(System.Reflection.Assembly torchSharp) => ShimCandidates(torchSharp).FirstOrDefault(File.Exists);

    private static string WritePatchedCopy(string source)
    {
        byte[] image = File.ReadAllBytes(source);
        string hash = Convert.ToHexStringLower(SHA256.HashData(image))[..16];
        string root = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData) is { Length: > 0 } data ? data : Path.GetTempPath();
        string folder = Path.Combine(root, "wfvae", "native", hash);
        string target = Path.Combine(folder, ShimFile);
        if (File.Exists(target)) return target; // written whole by the atomic writer, keyed by the source's content
        GlibcxxVersionNeeds.MarkTooNewWeak(image);
        Directory.CreateDirectory(folder);
        AtomicFileWriter.WriteFile(target, s => s.Write(image));
        return target;
    }
}
