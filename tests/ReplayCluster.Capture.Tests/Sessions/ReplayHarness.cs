using System.Text;
using Microsoft.Extensions.Time.Testing;
using ReplayCluster.Capture.Sessions;
using ReplayCluster.Packets;
using ReplayCluster.Protocol;
using ReplayCluster.Statistics;

namespace ReplayCluster.Capture.Tests.Sessions;

/// <summary>
/// Runs a <see cref="ReplaySession"/> against a <see cref="SimulatedTarget"/> on simulated time: a
/// discrete-event loop with a one-way latency, an extra relay delay on the way back (target ->
/// intercept -> cluster -> capture node) and independent random loss in each direction.
/// Deterministic for a given seed.
/// </summary>
internal sealed class ReplayHarness : ISegmentTransport
{
    public static readonly SessionEndpoints Endpoints = new(0x0AC80005, 40_001, 0x0A000202, 80);

    private readonly PriorityQueue<Action, (DateTimeOffset, long)> _events = new();
    private readonly Random _random;
    private long _order;

    public ReplayHarness(SessionOptions? options = null, int seed = 1, BufferBudget? budget = null, HandshakeRtts? handshakes = null,
        RelayLag? relayLag = null)
    {
        _random = new Random(seed);
        Target = new SimulatedTarget(Endpoints);
        RelayLag = relayLag;
        Session = new ReplaySession(Endpoints, options ?? new SessionOptions(), this, Time, budget, ReplyLatency, handshakes, relayLag);
    }

    /// <summary>The shard's view of the relay the session reads (its replies are observed on arrival, as the shard does); null: none.</summary>
    public RelayLag? RelayLag { get; }

    /// <summary>The origin of the replies this harness relays, as <see cref="Sessions.RelayLag"/> tells intercepts apart.</summary>
    public const string Intercept = "intercept";

    /// <summary>The reply latencies the session recorded.</summary>
    public ReplyLatencyHistogram ReplyLatency { get; } = new();

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    public ReplaySession Session { get; }

    public SimulatedTarget Target { get; }

    public TimeSpan Latency { get; set; } = TimeSpan.FromMilliseconds(0.25);

    /// <summary>Added to <see cref="Latency"/> on the way back: the reply relay through the intercept and the cluster.</summary>
    public TimeSpan RelayDelay { get; set; }

    /// <summary>Replies of the target that never reach the session (deterministic loss on the relay).</summary>
    public Func<ResponseRecord, bool>? DropReply { get; set; }

    public double LossToTarget { get; set; }

    public double LossFromTarget { get; set; }

    /// <summary>Every segment the session sent, in order.</summary>
    public List<(TcpSegmentSpec Spec, byte[] Payload, DateTimeOffset At)> Sent { get; } = [];

    /// <summary>Calls <see cref="ReplaySession.Trim"/> after every event and timer (it must change nothing the target sees).</summary>
    public bool TrimAfterEachStep { get; set; }

    /// <summary>
    /// The replies the target sends at one moment reach the session as one batch (<see cref="ReplaySession.OnResponses"/>),
    /// as the intercept relays a burst; otherwise one at a time.
    /// </summary>
    public bool BatchReplies { get; set; }

    /// <summary>Drops the next N segments toward the target (deterministic loss).</summary>
    public int DropNextToTarget { get; set; }

    public void Send(in TcpSegmentSpec segment, ReadOnlySpan<byte> payload)
    {
        var now = Time.GetUtcNow();
        var copy = payload.ToArray();
        Sent.Add((segment, copy, now));
        if (DropNextToTarget > 0)
        {
            DropNextToTarget--;
            return;
        }

        if (_random.NextDouble() < LossToTarget)
        {
            return;
        }

        var spec = segment;
        Schedule(now + Latency, () =>
        {
            Deliver(Target.Receive(spec, copy, Time.GetUtcNow()));
        });
    }

    /// <summary>The reply latency counters as the node reports them.</summary>
    public Dictionary<string, long> ReplyLatencyCounters()
    {
        var counters = new Dictionary<string, long>();
        ReplyLatency.WriteCounters(counters);
        return counters;
    }

    /// <summary>Schedules a captured client segment at a moment relative to now.</summary>
    public void Capture(CapturedSegment segment, TimeSpan after = default) =>
        Schedule(Time.GetUtcNow() + after, () => Session.OnCaptured(segment));

    /// <summary>Runs events and timers until nothing is left to do or <paramref name="limit"/> of simulated time passed.</summary>
    public void Run(TimeSpan limit)
    {
        var end = Time.GetUtcNow() + limit;
        while (true)
        {
            DateTimeOffset? next = _events.TryPeek(out _, out var key) ? key.Item1 : null;
            // A finished session's deadline (the end of its linger) is past and stays so: in the node its actor
            // retired it long before. Only events may still come (late replies, absorbed until they are done).
            var deadline = Session.IsFinished ? null : Session.NextDeadline;
            var targetTick = Earliest(Target.HasUnacked ? Time.GetUtcNow() + TimeSpan.FromMilliseconds(50) : null, Target.NextAnswerAt);
            var at = Earliest(Earliest(next, deadline), targetTick);
            if (at is null || at > end || (Session.IsFinished && next is null))
            {
                return;
            }

            if (at > Time.GetUtcNow())
            {
                Time.SetUtcNow(at.Value);
                _stepsWithoutTime = 0;
            }
            else if (++_stepsWithoutTime > MaxStepsWithoutTime)
            {
                // A deadline that stays due after OnTimer, or the session and the target answering each other with no
                // time passing: a hang, reported as a failure with the session's state.
                throw new InvalidOperationException(
                    $"no progress: {MaxStepsWithoutTime} steps at {Time.GetUtcNow():HH:mm:ss.fff} (event {next:HH:mm:ss.fff}, session deadline {deadline:HH:mm:ss.fff}, target {targetTick:HH:mm:ss.fff}); {Session.Describe()}");
            }

            if (next is not null && next <= at)
            {
                _events.Dequeue()();
            }
            else if (deadline is not null && deadline <= at)
            {
                Session.OnTimer();
            }
            else
            {
                Deliver(Target.Tick(Time.GetUtcNow()));
            }

            if (TrimAfterEachStep)
            {
                Session.Trim();
            }
        }
    }

    private const int MaxStepsWithoutTime = 100_000;
    private int _stepsWithoutTime;

    // What the target sent at one moment: one reply at a time, or (BatchReplies) all of them in one batch.
    private void Deliver(IEnumerable<ResponseRecord> replies)
    {
        var kept = replies.Where(reply => !(_random.NextDouble() < LossFromTarget || DropReply?.Invoke(reply) == true)).ToArray();
        var sentAt = Time.GetUtcNow();
        var at = sentAt + Latency + RelayDelay;
        if (BatchReplies && kept.Length > 0)
        {
            Schedule(at, () =>
            {
                Observed(sentAt);
                Session.OnResponses(kept);
            });
            return;
        }

        foreach (var reply in kept)
        {
            Schedule(at, () =>
            {
                Observed(sentAt);
                Session.OnResponse(reply);
            });
        }
    }

    /// <summary>Runs <paramref name="action"/> <paramref name="after"/> from now, in simulated time.</summary>
    public void At(TimeSpan after, Action action) => Schedule(Time.GetUtcNow() + after, action);

    private void Schedule(DateTimeOffset at, Action action) => _events.Enqueue(action, (at, _order++));

    private void Observed(DateTimeOffset sentAt) =>
        RelayLag?.Observe(Intercept, (sentAt.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100, Time.GetUtcNow());

    private static DateTimeOffset? Earliest(DateTimeOffset? a, DateTimeOffset? b) =>
        a is null ? b : b is null ? a : a < b ? a : b;
}

/// <summary>Builds the captured segments of one recorded client connection (online server ISN 1000).</summary>
internal sealed class RecordedClient(uint isn = 100_000, uint? tsVal = 5000)
{
    public const uint OnlineServerIsn = 1000;

    /// <summary>Capture timestamps start here (Unix nanoseconds), when <see cref="At"/> is used.</summary>
    public const long RecordingStartNanos = 1_764_000_000_000_000_000;

    private long _capturedAt;

    private uint _seq = isn + 1;
    private uint _ack = OnlineServerIsn + 1;

    public uint Isn { get; } = isn;

    public List<CapturedSegment> Segments { get; } = [];

    public RecordedClient Syn()
    {
        Segments.Add(new CapturedSegment { Sequence = Isn, Acknowledgment = 0, Flags = TcpFlags.Syn, Mss = 1460, TsVal = tsVal, CapturedAtNanos = _capturedAt });
        return this;
    }

    public RecordedClient HandshakeAck()
    {
        Segments.Add(new CapturedSegment { Sequence = _seq, Acknowledgment = _ack, Flags = TcpFlags.Ack, TsVal = tsVal, CapturedAtNanos = _capturedAt });
        return this;
    }

    /// <summary>The segments that follow were captured <paramref name="sinceStart"/> into the recording.</summary>
    public RecordedClient At(TimeSpan sinceStart)
    {
        _capturedAt = RecordingStartNanos + (sinceStart.Ticks * 100);
        return this;
    }

    /// <summary>
    /// Schedules every segment at its capture time (live capture: the session sees each one as the
    /// client sends it), <paramref name="captureDelay"/> after the recording's start.
    /// </summary>
    public void CaptureLive(ReplayHarness harness, TimeSpan captureDelay = default)
    {
        foreach (var segment in Segments)
        {
            harness.Capture(segment, captureDelay + TimeSpan.FromTicks((segment.CapturedAtNanos - RecordingStartNanos) / 100));
        }
    }

    /// <summary>The online server sent this many bytes (a response or a greeting) before the client's next request.</summary>
    public RecordedClient ServerSent(int bytes)
    {
        _ack += (uint)bytes;
        return this;
    }

    /// <summary>One request, split into captured segments of at most <paramref name="segmentSize"/> bytes.</summary>
    public RecordedClient Request(string text, int segmentSize = 1448) => Data(Encoding.ASCII.GetBytes(text), segmentSize);

    public RecordedClient Data(byte[] bytes, int segmentSize = 1448)
    {
        for (var offset = 0; offset < bytes.Length; offset += segmentSize)
        {
            var piece = bytes.AsMemory(offset, Math.Min(segmentSize, bytes.Length - offset));
            Segments.Add(new CapturedSegment { Sequence = _seq, Acknowledgment = _ack, Flags = TcpFlags.Ack | TcpFlags.Psh, Payload = piece, TsVal = tsVal, CapturedAtNanos = _capturedAt });
            _seq += (uint)piece.Length;
        }

        return this;
    }

    /// <summary>Skips bytes the capture never saw (a capture gap).</summary>
    public RecordedClient Lose(int bytes)
    {
        _seq += (uint)bytes;
        return this;
    }

    public RecordedClient Fin()
    {
        Segments.Add(new CapturedSegment { Sequence = _seq, Acknowledgment = _ack, Flags = TcpFlags.Fin | TcpFlags.Ack, TsVal = tsVal, CapturedAtNanos = _capturedAt });
        _seq++;
        return this;
    }

    public RecordedClient Reset()
    {
        Segments.Add(new CapturedSegment { Sequence = _seq, Acknowledgment = _ack, Flags = TcpFlags.Rst, TsVal = tsVal, CapturedAtNanos = _capturedAt });
        return this;
    }

    /// <summary>Schedules every segment, <paramref name="spacing"/> apart (the online client's rhythm).</summary>
    public void CaptureInto(ReplayHarness harness, TimeSpan spacing = default)
    {
        var at = TimeSpan.Zero;
        foreach (var segment in Segments)
        {
            harness.Capture(segment, at);
            at += spacing;
        }
    }

    /// <summary>A keep-alive client: handshake, then <paramref name="requests"/> requests each answered online.</summary>
    public static RecordedClient KeepAlive(int requests, int responseSize)
    {
        var client = new RecordedClient().Syn().HandshakeAck();
        for (var i = 0; i < requests; i++)
        {
            client.Request(HttpRequest(i)).ServerSent(responseSize);
        }

        return client;
    }

    /// <summary>The text of requests 0..count-1 as <see cref="KeepAlive"/> sends them.</summary>
    public static string HttpRequests(int count) => string.Concat(Enumerable.Range(0, count).Select(i => HttpRequest(i)));

    public static string HttpRequest(int n, string method = "GET", string body = "") =>
        $"{method} /item/{n} HTTP/1.1\r\nHost: online\r\nContent-Length: {body.Length}\r\n\r\n{body}";
}
