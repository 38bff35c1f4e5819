using System.Runtime.InteropServices;

namespace WfVae.Tests.Model;

/// <summary>
/// The runtime half of the Debian 12 loader fix (TorchNative, for hosts that run no MSBuild targets) uses the same ELF
/// patcher as the build task; here on the real shim from the NuGet cache and on the copy the build put in this test's output.
/// </summary>
public sealed class TorchNativeTests
{
    private static string PackageShim()
    {
        string cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } p ? p : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        string shim = Path.Combine(cache, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        Assert.True(File.Exists(shim), $"TorchSharp's shim is not at '{shim}' (restore the solution first)");
        return shim;
    }

    [Fact]
    public void Glibcxx_needs_above_3_4_30_are_marked_weak_once_and_nothing_else_changes()
    {
        byte[] original = File.ReadAllBytes(PackageShim());
        byte[] patched = (byte[])original.Clone();
        int changed = GlibcxxVersionNeeds.MarkTooNewWeak(patched);
        Assert.True(changed > 0, "TorchSharp 0.107.0's shim asks for GLIBCXX_3.4.32; the patcher found nothing to mark");
        Assert.Equal(0, GlibcxxVersionNeeds.MarkTooNewWeak(patched));
        int differing = original.Zip(patched).Count(p => p.First != p.Second);
        Assert.Equal(changed, differing); // one flag byte per version need, nothing else
    }

    [Fact]
    public void The_build_output_shim_is_already_patched_so_EnsureLoaded_has_nothing_to_do()
    {
        string output = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        if (!File.Exists(output)) output = Path.Combine(AppContext.BaseDirectory, "libLibTorchSharp.so");
        Assert.True(File.Exists(output), $"no libLibTorchSharp.so in {AppContext.BaseDirectory}");
        Assert.Equal(0, GlibcxxVersionNeeds.MarkTooNewWeak(File.ReadAllBytes(output)));
        TorchNative.EnsureLoaded();
        Assert.Null(TorchNative.PatchedShimPath);
        Assert.True(NativeLibrary.TryLoad("LibTorchSharp", typeof(TorchSharp.torch).Assembly, null, out _));
    }

    [Fact]
    public void A_file_that_is_not_ELF64_is_refused()
    {
        var e = Assert.Throws<InvalidDataException>(() => GlibcxxVersionNeeds.MarkTooNewWeak("not an ELF file at all, just text for the test"u8.ToArray().Concat(new byte[64]).ToArray()));
        Assert.Contains("ELF64", e.Message);
    }
}
