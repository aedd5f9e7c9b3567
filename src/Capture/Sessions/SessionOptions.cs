namespace ReplayCluster.Capture.Sessions;

/// <summary>How requests are paced toward the target.</summary>
internal enum PacingMode
{
    /// <summary>
    /// The next request waits until the target has answered what the recorded client had seen before
    /// sending it, or until the recorded client's own gap has passed (so the replay keeps pace however
    /// slow the reply relay is), with at most <see cref="SessionOptions.MaxOutstandingRequests"/> unanswered.
    /// </summary>
    WaitForResponse,

    /// <summary>Requests go out as soon as they are captured and the window allows (tcpcopy's -W).</summary>
    NoWait,
}

/// <summary>Tuning of one replayed session. Defaults suit a LAN between capture node and target.</summary>
internal sealed record SessionOptions
{
    /// <summary>Request pacing. Defaults to <see cref="PacingMode.WaitForResponse"/>.</summary>
    public PacingMode Pacing { get; init; } = PacingMode.WaitForResponse;

    /// <summary>
    /// Requests that may be released on the recorded client's gap while earlier ones are not yet known
    /// answered (with <see cref="PacingMode.WaitForResponse"/>); 1 waits strictly for each answer.
    /// Defaults to 32 (keep pace): the reply relay (target, intercept, cluster, capture node) can take several
    /// milliseconds while a database client's statements follow each other every 100-200 µs online
    /// (pgbench TPC-B at ~925 transactions/s per client, 7 statements each); keeping pace needs about
    /// relay delay / gap requests ahead, 10-20 there. A slower target than online then holds at most
    /// 32 small requests per session in its socket buffer instead of an unbounded queue.
    /// </summary>
    public int MaxOutstandingRequests { get; init; } = 32;

    /// <summary>
    /// How much faster than recorded the captured timestamps are replayed (a pcap file at --speed 2):
    /// recorded gaps between requests are divided by it. Defaults to 1 (live capture).
    /// </summary>
    public double RecordedSpeed { get; init; } = 1;

    /// <summary>
    /// A request whose recorded gap ends within this long goes at once instead of waiting for a timer. Timers
    /// fire on the node scheduler's 10 ms grid: waiting for a gap of a few hundred microseconds cost up to 10 ms
    /// per request, slower than the reply relay, so pgbench replayed at 0.3x its live rate. Going at most this
    /// early is harmless to the target (the outstanding bound still holds). Defaults to 10 ms; zero waits exactly.
    /// </summary>
    public TimeSpan RecordedGapTolerance { get; init; } = TimeSpan.FromMilliseconds(10);

    /// <summary>MSS we announce and the cap on segment size. Defaults to 1460 (Ethernet MTU 1500).</summary>
    public ushort Mss { get; init; } = 1460;

    /// <summary>Window scale shift we announce; with window 65535 it lets the target send 8 MiB unacked. Defaults to 7.</summary>
    public byte WindowScale { get; init; } = 7;

    /// <summary>Retransmission timeout before any RTT sample. Defaults to 200 ms.</summary>
    public TimeSpan InitialRto { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// The most a new session's first SYN waits before it is retransmitted when earlier handshakes to the same target
    /// took long (<see cref="HandshakeRtts"/>). Defaults to 1 s, RFC 6298's initial RTO.
    /// </summary>
    public TimeSpan SynRtoCeiling { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The most a retransmission timeout is put off while the reply relay is behind (<see cref="RelayLag"/>): a relay
    /// that far behind is failing rather than busy, and what was lost is sent again after at most this much more.
    /// Defaults to 3 s (the maximum-rate flood's relay ran up to ~1 s behind).
    /// </summary>
    public TimeSpan RelayWaitCeiling { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Lower bound of the computed RTO. Defaults to 30 ms: LAN RTTs are sub-millisecond.</summary>
    public TimeSpan MinRto { get; init; } = TimeSpan.FromMilliseconds(30);

    /// <summary>Upper bound of the backed-off RTO. Defaults to 5 s.</summary>
    public TimeSpan MaxRto { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Retransmissions of a SYN before the session is lost. Defaults to 6.</summary>
    public int MaxSynRetries { get; init; } = 6;

    /// <summary>Consecutive retransmissions of data before the session is lost. Defaults to 10.</summary>
    public int MaxRetries { get; init; } = 10;

    /// <summary>
    /// How long the acknowledgment of a lone in-order segment of the target may wait for a segment of ours to carry it
    /// (every second segment, a FIN or a segment out of order is acknowledged at once). Linux's minimum delayed ACK
    /// (TCP_DELACK_MIN); far below any retransmission timeout of the target's.
    /// </summary>
    public TimeSpan DelayedAck { get; init; } = TimeSpan.FromMilliseconds(40);

    /// <summary>
    /// When the target's response is shorter than the online one, it is taken as complete after this
    /// much silence. Defaults to 50 ms.
    /// </summary>
    public TimeSpan ResponseSilence { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>The next request goes out after this long even if the target never answered. Defaults to 3 s.</summary>
    public TimeSpan ResponseWaitLimit { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>How long a capture gap (bytes never captured) is waited for before it is skipped. Defaults to 2 s.</summary>
    public TimeSpan GapWait { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Silence with data pending after which the session is lost. Defaults to 60 s.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Silence with nothing pending after which a keep-alive session is closed. Defaults to 10 min.</summary>
    public TimeSpan KeepAliveTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Silence after which a session whose client never sent a byte (a handshake only: a spoofed SYN, a preconnect
    /// nobody used) is closed, instead of holding an actor and a target connection for the keep-alive timeout.
    /// Defaults to 15 s: a browser closes an unused preconnected socket after 10 s.
    /// </summary>
    public TimeSpan NoDataTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>How long an ended session absorbs late packets before it is forgotten. Defaults to 6 s.</summary>
    public TimeSpan Linger { get; init; } = TimeSpan.FromSeconds(6);

    /// <summary>Cap on captured bytes buffered and not yet acknowledged by the target. Defaults to 64 MiB.</summary>
    public long MaxBufferedBytes { get; init; } = 64L * 1024 * 1024;
}
