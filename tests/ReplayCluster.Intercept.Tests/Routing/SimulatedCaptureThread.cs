using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using ReplayCluster.Intercept.Routing;
using ReplayCluster.PacketIO;
using ReplayCluster.Protocol;

namespace ReplayCluster.Intercept.Tests.Routing;

/// <summary>
/// Runs a <see cref="ReplyForwarder"/> the way LiveCapture's loop does in the node: one thread that routes each burst
/// of captured replies, then calls <see cref="ReplyForwarder.EndOfBurst"/>, and sleeps in ppoll until the next burst
/// or wake-up (a datagram to itself stands for the capture and the eventfd), the timeout EndOfBurst asked for, or
/// claims on one of the channels' connections (<see cref="ICaptureSideInput"/>), which it hands to the forwarder first.
/// </summary>
internal sealed class SimulatedCaptureThread : IDisposable
{
    private readonly ConcurrentQueue<ResponseRecord[]> _bursts = new();
    private readonly Socket _signal = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly ReplyForwarder _forwarder;
    private readonly Thread _thread;
    private volatile bool _stopping;
    private Exception? _fault;

    public SimulatedCaptureThread(ReplyForwarder forwarder, IActorRef router)
    {
        _forwarder = forwarder;
        _signal.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _signal.Connect(_signal.LocalEndPoint!);
        _thread = new Thread(Loop) { IsBackground = true, Name = "simulated capture" };
        _thread.Start();
        forwarder.Attach(Wake, router);
    }

    /// <summary>Captured replies delivered together, as one pcap_dispatch delivers a burst.</summary>
    public void Capture(params ResponseRecord[] burst)
    {
        _bursts.Enqueue(burst);
        Wake();
    }

    public void Dispose()
    {
        _stopping = true;
        Wake();
        _thread.Join();
        _forwarder.Close();
        _signal.Dispose();
        if (_fault is not null)
        {
            throw new InvalidOperationException("the simulated capture thread failed", _fault);
        }
    }

    private void Wake() => _signal.Send([1]);

    private void Loop()
    {
        var timeoutNanos = -1L;
        var fds = new LibC.PollFd[1 + LiveCapture.MaxInputs];
        var inputs = new int[LiveCapture.MaxInputs];
        var drain = new byte[16];
        try
        {
            while (!_stopping)
            {
                var count = _forwarder.Gather(inputs);
                fds[0] = new LibC.PollFd { Fd = (int)_signal.Handle, Events = LibC.PollIn };
                for (var i = 0; i < count; i++)
                {
                    fds[1 + i] = new LibC.PollFd { Fd = inputs[i], Events = LibC.PollIn };
                }

                LibC.PollAll(fds, 1 + count, timeoutNanos);
                while (_signal.Available > 0)
                {
                    _signal.Receive(drain);
                }

                for (var i = 0; i < count; i++)
                {
                    if (fds[1 + i].Revents != 0)
                    {
                        _forwarder.OnReady(i);
                    }
                }

                while (_bursts.TryDequeue(out var burst))
                {
                    foreach (var record in burst)
                    {
                        _forwarder.Route(record);
                    }
                }

                // Held frames wait in the burst queue either way: the next loop takes them all.
                var wait = _forwarder.EndOfBurst();
                timeoutNanos = wait.TimeoutMicros < 0 ? -1 : wait.TimeoutMicros * 1000;
            }
        }
        catch (Exception ex)
        {
            _fault = ex;
        }
    }
}
