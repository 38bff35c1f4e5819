using WfVae.Modules;

namespace WfVae.Tests.Model;

/// <summary>Forward passes for module-level tests: inference (optionally with kernel choices) or training.</summary>
internal static class Passes
{
    /// <summary>Every inference rewrite off: the plain padded convolutions and nearest upsampling.</summary>
    public static readonly WfVaeInferenceOptions Direct = WfVaeInferenceOptions.Default with { Winograd = false, FoldReplicatedFrames = false, SubPixelUpsample = false };

    public static ForwardPass Whole(WfVaeInferenceOptions? options = null) => new(options ?? WfVaeInferenceOptions.Default, null, inference: true);

    public static ForwardPass Chunk(CausalCache cache, WfVaeInferenceOptions? options = null) => new(options ?? WfVaeInferenceOptions.Default, cache, inference: true);

    public static ForwardPass Training(CausalCache? cache = null) => new(WfVaeInferenceOptions.Default, cache, inference: false);
}
