using System.Runtime.CompilerServices;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace WfVae.Modules;

/// <summary>
/// The one way this project makes a <see cref="Parameter"/>. TorchSharp's public <c>Parameter(Tensor)</c> moves the
/// native handle out of its argument without uncounting that wrapper, so each parameter left
/// <see cref="Tensor.TotalCount"/> one higher for the life of the process (220 per load of the tiny model) and hid
/// real leaks behind the drift. Here the handle is released from its wrapper with the count (DecoupleFromNativeHandle)
/// and handed to the constructor TorchSharp itself uses for native handles.
/// </summary>
internal static class Parameters
{
    [UnsafeAccessor(UnsafeAccessorKind.Constructor)]
    private static extern Parameter FromHandle(IntPtr handle);

    /// <summary>A parameter owning <paramref name="data"/>'s native tensor; <paramref name="data"/> is left empty.</summary>
    public static Parameter Create(Tensor data, bool requiresGrad = true)
    {
        data.requires_grad = requiresGrad;
        return FromHandle(data.DecoupleFromNativeHandle());
    }
}
