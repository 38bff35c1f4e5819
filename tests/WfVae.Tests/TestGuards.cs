using System.Reflection;
using System.Runtime.CompilerServices;
using TorchSharp;
using WfVae.Diagnostics;
using Xunit.Sdk;

[assembly: WfVae.Tests.RestoresGlobalTorchState]

namespace WfVae.Tests;

/// <summary>Process-wide test settings, applied before any test runs.</summary>
internal static class TestGuards
{
    /// <summary>
    /// Every test runs with libtorch's allocator filling fresh CPU buffers with NaN, so an element read before it is
    /// written shows up as NaN in parity, chunked-vs-whole, Winograd and ML.NET tests instead of as a flaky value.
    /// </summary>
    [ModuleInitializer]
    internal static void PoisonFreshBuffers() => NativeAllocatorPoison.Set(true);
}

/// <summary>
/// Fails any test that leaves torch state changed: grad mode, intra-op threads, the allocator poison. State leaking from one test into the next made results depend on test order.
/// Grad mode is per thread, so it is checked on the test's own thread; the thread count and the poison are process-wide, and only
/// tests in <see cref="GlobalTorchStateCollection"/> (which run alone) may change them, so a parallel test never sees a neighbour's change.
/// </summary>
[AttributeUsage(AttributeTargets.Assembly | AttributeTargets.Class | AttributeTargets.Method)]
public sealed class RestoresGlobalTorchStateAttribute : BeforeAfterTestAttribute
{
    private static readonly AsyncLocal<string?> s_before = new();

    private static string Snapshot() =>
        $"grad enabled = {torch.is_grad_enabled()}, threads = {torch.get_num_threads()}, " +
        $"allocator poison = {NativeAllocatorPoison.Enabled}";

    public override void Before(MethodInfo methodUnderTest) => s_before.Value = Snapshot();

    public override void After(MethodInfo methodUnderTest)
    {
        string before = s_before.Value ?? "", after = Snapshot();
        if (before != after)
            throw new InvalidOperationException($"{methodUnderTest.DeclaringType?.Name}.{methodUnderTest.Name} changed global torch state: before [{before}], after [{after}]; restore it in the test.");
    }
}
