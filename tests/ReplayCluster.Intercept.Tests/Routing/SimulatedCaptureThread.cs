using System.Collections.Concurrent;
using Akka.Actor;
using ReplayCluster.Intercept.Routing;
using ReplayCluster.Replay;

namespace ReplayCluster.Intercept.Tests.Routing;

/// <summary>
/// Runs a <see cref="ReplyForwarder"/> the way LiveCapture's loop does in the node: one thread that routes each burst
/// of captured replies, then calls <see cref="ReplyForwarder.EndOfBurst"/>, and sleeps until the next burst, a
/// wake-up, or the timeout EndOfBurst asked for.
/// </summary>
internal sealed class SimulatedCaptureThread : IDisposable
{
    private readonly ConcurrentQueue<ResponseRecord[]> _bursts = new();
    private readonly AutoResetEvent _signal = new(false);
    private readonly ReplyForwarder _forwarder;
    private readonly Thread _thread;
    private volatile bool _stopping;
    private Exception? _fault;

    public SimulatedCaptureThread(ReplyForwarder forwarder, IActorRef router)
    {
        _forwarder = forwarder;
        _thread = new Thread(Loop) { IsBackground = true, Name = "simulated capture" };
        _thread.Start();
        forwarder.Attach(Wake, router);
    }

    /// <summary>Captured replies delivered together, as one pcap_dispatch delivers a burst.</summary>
    public void Capture(params ResponseRecord[] burst)
    {
        _bursts.Enqueue(burst);
        _signal.Set();
    }

    public void Dispose()
    {
        _stopping = true;
        _signal.Set();
        _thread.Join();
        _forwarder.Close();
        _signal.Dispose();
        if (_fault is not null)
        {
            throw new InvalidOperationException("the simulated capture thread failed", _fault);
        }
    }

    private void Wake() => _signal.Set();

    private void Loop()
    {
        var timeout = -1;
        try
        {
            while (!_stopping)
            {
                _signal.WaitOne(timeout);
                while (_bursts.TryDequeue(out var burst))
                {
                    foreach (var record in burst)
                    {
                        _forwarder.Route(record);
                    }
                }

                // Held frames wait in the burst queue either way: the next loop takes them all.
                var wait = _forwarder.EndOfBurst();
                timeout = wait.TimeoutMicros < 0 ? -1 : (int)Math.Ceiling(wait.TimeoutMicros / 1000.0);
            }
        }
        catch (Exception ex)
        {
            _fault = ex;
        }
    }
}
