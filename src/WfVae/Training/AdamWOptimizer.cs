using TorchSharp.Modules;
using static TorchSharp.torch;

namespace WfVae.Training;

/// <summary>
/// AdamW (decoupled weight decay, bias-corrected moments; the same update as torch.optim.AdamW) over named parameters,
/// with its whole state exposed as named tensors so that checkpoints are plain safetensors files. With
/// <c>masterWeights</c> the optimiser keeps fp32 copies of low-precision (bf16) parameters, updates them from the
/// up-cast gradients and copies the result back.
/// </summary>
internal sealed class AdamWOptimizer : IDisposable
{
    private sealed class Slot(string name, Parameter param, Tensor? master, Tensor m, Tensor v)
    {
        public string Name { get; } = name;
        public Parameter Param { get; } = param;
        public Tensor? Master { get; } = master;
        public Tensor M { get; } = m;
        public Tensor V { get; } = v;
        public Tensor Weights => Master ?? Param;
    }

    private readonly List<Slot> _slots = [];
    private readonly double _beta1, _beta2, _eps, _weightDecay;

    /// <summary>Completed update steps (drives bias correction).</summary>
    public long Step { get; private set; }

    public AdamWOptimizer(IEnumerable<(string Name, Parameter Param)> parameters, double beta1, double beta2, double eps, double weightDecay, bool masterWeights)
    {
        (_beta1, _beta2, _eps, _weightDecay) = (beta1, beta2, eps, weightDecay);
        using var _ = no_grad();
        foreach (var (name, p) in parameters)
        {
            var master = masterWeights ? p.detach().to(ScalarType.Float32).clone() : null;
            var shape = p.shape;
            _slots.Add(new Slot(name, p, master, zeros(shape, ScalarType.Float32, p.device), zeros(shape, ScalarType.Float32, p.device)));
        }
    }

    /// <summary>The trainable parameters, in order.</summary>
    public IEnumerable<Parameter> Parameters => _slots.Select(s => s.Param);

    /// <summary>Name → fp32 weights (the master copy when there is one).</summary>
    public IEnumerable<(string Name, Tensor Weights)> Weights => _slots.Select(s => (s.Name, s.Weights));

    public void ZeroGrad()
    {
        foreach (var s in _slots)
        {
            var g = s.Param.grad;
            if (g is not null) { g.Dispose(); s.Param.grad = null; }
        }
    }

    /// <summary>Global L2 norm of the gradients; when <paramref name="maxNorm"/> is positive they are scaled to at most that norm.</summary>
    public double ClipGradNorm(double? maxNorm)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var sq = new List<Tensor>();
        foreach (var s in _slots)
            if (s.Param.grad is { } g) sq.Add(g.to(ScalarType.Float32).square().sum());
        if (sq.Count == 0) return 0;
        double norm = Math.Sqrt(stack(sq).sum().item<float>());
        if (maxNorm is double max && max > 0 && norm > max && double.IsFinite(norm))
        {
            double f = max / (norm + 1e-6);
            foreach (var s in _slots) s.Param.grad?.mul_(f);
        }
        return norm;
    }

    /// <summary>One AdamW update with learning rate <paramref name="lr"/> (parameters without a gradient are skipped).</summary>
    public void Update(double lr)
    {
        Step++;
        double bc1 = 1 - Math.Pow(_beta1, Step), bc2 = 1 - Math.Pow(_beta2, Step);
        double stepSize = lr / bc1, sqrtBc2 = Math.Sqrt(bc2);
        using var _ = no_grad();
        foreach (var s in _slots)
        {
            using var scope = NewDisposeScope();
            var gRaw = s.Param.grad;
            if (gRaw is null) continue;
            var g = gRaw.dtype == ScalarType.Float32 ? gRaw : gRaw.to(ScalarType.Float32);
            var w = s.Weights;
            if (_weightDecay != 0) w.mul_(1 - lr * _weightDecay);
            s.M.mul_(_beta1).add_(g, alpha: 1 - _beta1);
            s.V.mul_(_beta2).addcmul_(g, g, value: 1 - _beta2);
            var denom = s.V.sqrt().div_(sqrtBc2).add_(_eps);
            w.addcdiv_(s.M, denom, value: -stepSize);
            if (s.Master is not null) s.Param.copy_(s.Master);
        }
    }

    /// <summary>State as named tensors: <c>exp_avg.NAME</c>, <c>exp_avg_sq.NAME</c> and (with master weights) <c>master.NAME</c>.</summary>
    public IEnumerable<KeyValuePair<string, Tensor>> StateTensors()
    {
        foreach (var s in _slots)
        {
            yield return new($"exp_avg.{s.Name}", s.M);
            yield return new($"exp_avg_sq.{s.Name}", s.V);
            if (s.Master is not null) yield return new($"master.{s.Name}", s.Master);
        }
    }

    /// <summary>Restores the state written by <see cref="StateTensors"/>.</summary>
    public void LoadState(Func<string, Tensor?> read, long step)
    {
        using var _ = no_grad();
        foreach (var s in _slots)
        {
            Copy(s.M, read($"exp_avg.{s.Name}"), $"exp_avg.{s.Name}");
            Copy(s.V, read($"exp_avg_sq.{s.Name}"), $"exp_avg_sq.{s.Name}");
            if (s.Master is not null && read($"master.{s.Name}") is { } m)
            {
                using (m) s.Master.copy_(m);
                s.Param.copy_(s.Master);
            }
        }
        Step = step;
    }

    private static void Copy(Tensor dst, Tensor? src, string name)
    {
        if (src is null) throw new InvalidDataException($"optimizer state has no tensor '{name}'.");
        using (src)
        {
            if (!src.shape.SequenceEqual(dst.shape))
                throw new InvalidDataException($"optimizer state '{name}' has shape [{string.Join(",", src.shape)}], expected [{string.Join(",", dst.shape)}].");
            dst.copy_(src);
        }
    }

    public void Dispose()
    {
        foreach (var s in _slots)
        {
            s.M.Dispose();
            s.V.Dispose();
            s.Master?.Dispose();
        }
        _slots.Clear();
    }
}
