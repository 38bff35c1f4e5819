using System.Diagnostics;
using System.Globalization;
using Microsoft.ML.Runtime;

namespace WfVae.MLNet;

/// <summary>
/// A stage's messages on an ML.NET channel (an MLContext raises them as its <c>Log</c> event): the model loaded, and
/// each row encoded or decoded with its time and the running mean. Thread-safe: parallel cursors share it.
/// </summary>
internal sealed class StageLog
{
    private readonly IChannel _channel;
    private readonly string _stage;
    private readonly Lock _lock = new();
    private long _rows;
    private double _seconds;

    private StageLog(IChannelProvider provider, string stage)
    {
        _stage = stage;
        _channel = provider.Start(stage);
    }

    /// <summary>A log on <paramref name="provider"/>'s channel for <paramref name="stage"/>, or null (no logging) when it is null.</summary>
    public static StageLog? For(IChannelProvider? provider, string stage) => provider is null ? null : new StageLog(provider, stage);

    public void ModelReady(WfVaeModel model, bool loaded, TimeSpan elapsed) =>
        Info(loaded
            ? string.Create(CultureInfo.InvariantCulture, $"{_stage}: model loaded from {model.SourceDirectory ?? "(memory)"} ({model.Components}, {model.ParameterCount:N0} parameters) on {model.Device} in {elapsed.TotalSeconds:F2} s")
            : string.Create(CultureInfo.InvariantCulture, $"{_stage}: using the given model ({model.SourceDirectory ?? "(memory)"}, {model.ParameterCount:N0} parameters) on {model.Device}"));

    /// <summary><paramref name="inner"/> with each row's time logged.</summary>
    public IRowComputer Timed(IRowComputer inner, string verb) => new TimedComputer(this, inner, verb);

    private void RowDone(string verb, string? file, TimeSpan elapsed)
    {
        long rows;
        double mean;
        lock (_lock)
        {
            rows = ++_rows;
            _seconds += elapsed.TotalSeconds;
            mean = _seconds / rows;
        }
        Info(string.Create(CultureInfo.InvariantCulture,
            $"{_stage}: {verb} a row{(file is null ? "" : $" ({file})")} in {elapsed.TotalSeconds:F3} s; {rows} row(s) {verb} so far, {mean:F3} s/row"));
    }

    private void Info(string message)
    {
        lock (_lock) _channel.Info(MessageSensitivity.None, message);
    }

    private sealed class TimedComputer(StageLog log, IRowComputer inner, string verb) : IRowComputer
    {
        public string? CurrentFile => inner.CurrentFile;

        public float[][] Compute()
        {
            var clock = Stopwatch.StartNew();
            var values = inner.Compute();
            log.RowDone(verb, inner.CurrentFile, clock.Elapsed);
            return values;
        }
    }
}
