using static TorchSharp.torch;

namespace WfVae.Modules;

/// <summary>
/// What one forward call of the network runs with: the video's Causal Cache (null for the whole video in one call),
/// the inference options, whether it is inference (no autograd graph) so the rewrites that are exact up to
/// summation order may apply, and for training the generator of the dropout masks. Passed down explicitly; modules read no ambient state.
/// </summary>
internal sealed class ForwardPass(WfVaeInferenceOptions options, CausalCache? cache, bool inference, Generator? dropoutRandom = null)
{
    public WfVaeInferenceOptions Options { get; } = options;
    public CausalCache? Cache { get; } = cache;
    public bool Inference { get; } = inference;
    /// <summary>Where a training pass draws its dropout masks (null for inference, which never drops).</summary>
    public Generator? DropoutRandom { get; } = dropoutRandom;

    /// <summary>Whether conv inputs of this dtype are made channels-last.</summary>
    public bool UseChannelsLast(Tensor x) => Options.ConvLayout switch
    {
        ConvLayout.ChannelsLast => true,
        ConvLayout.Contiguous => false,
        _ => x.dtype == ScalarType.BFloat16,
    };

    /// <summary>Whether the inference-only rewrites may run on x: inference, in the contiguous fp32 layout they were measured with.</summary>
    public bool AllowsRewrites(Tensor x) => Inference && !UseChannelsLast(x);

    /// <summary>The same options and mode without a cache (e.g. for a sub-computation on the whole input).</summary>
    public ForwardPass WithoutCache() => new(Options, null, Inference, DropoutRandom);
}
