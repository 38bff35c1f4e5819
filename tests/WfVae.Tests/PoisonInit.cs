using System.Runtime.CompilerServices;
namespace WfVae.Tests;
internal static class PoisonInit
{
    [ModuleInitializer]
    internal static void Init() => WfVae.Diagnostics.NativeAllocatorPoison.Set(true);
}
