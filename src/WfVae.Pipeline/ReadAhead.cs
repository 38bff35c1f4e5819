using System.Collections.Concurrent;

namespace WfVae.Pipeline;

/// <summary>
/// Enumerates a source on its own thread, at most <c>capacity</c> items ahead of the consumer, so decoding the next
/// frames overlaps the model's work on the current ones. Exceptions of the source surface in the consumer;
/// disposing the enumerator (or cancelling) stops the producer.
/// </summary>
internal static class ReadAhead
{
    public static IEnumerable<T> Buffered<T>(Func<CancellationToken, IEnumerable<T>> source, int capacity, CancellationToken ct)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var queue = new BlockingCollection<T>(capacity);
        Exception? failure = null;
        var producer = Task.Factory.StartNew(() =>
        {
            try
            {
                foreach (var item in source(stop.Token))
                    queue.Add(item, stop.Token);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
            catch (Exception e) { failure = e; }
            finally { queue.CompleteAdding(); }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        try
        {
            foreach (var item in queue.GetConsumingEnumerable(ct))
                yield return item;
            producer.Wait(CancellationToken.None);
            if (failure is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
        }
        finally
        {
            stop.Cancel();
            try { producer.Wait(CancellationToken.None); } catch (AggregateException) { }
        }
    }
}
