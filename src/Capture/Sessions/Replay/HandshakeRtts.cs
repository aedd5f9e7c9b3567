using System.Runtime.InteropServices;
using ReplayCluster.Packets;
using ReplayCluster.Protocol;

namespace ReplayCluster.Capture.Sessions;

/// <summary>
/// How long handshakes to each target took lately, shared by the sessions of one shard: the SYN timeout a new session
/// starts from, as Linux seeds a new connection from the round trip it cached for the destination (tcp_metrics).
/// </summary>
/// <remarks>
/// <para>
/// A session knows no round trip before its own handshake, so every SYN used to wait <see cref="SessionOptions.InitialRto"/>
/// (200 ms). A replayed SYN-ACK comes back through the intercept and the reply relay, and when the node or the target is
/// busy that takes longer: at the lab's maximum short-connection rate (FloodLabTests, ~10k connections/s, 2026-12-01)
/// the relay's p50 reached 0.3-1 s and the node retransmitted 0.75-1.45 SYNs per session. Each retransmission is more
/// work for every part of the path (a send, the target's answer, its capture, relay and handling), so the backlog fed
/// itself. Three alternating runs each, before / with this: 40-78k / 7-17k SYN retransmissions for ~50k sessions,
/// 3.6-7.2 / 1.1-3.0 s of drain, 116-178 / 72-100 µs of capture-node CPU per request (bench/results/handshake-rtt-ab.txt).
/// </para>
/// <para>
/// The estimate is RFC 6298's (SRTT, RTTVAR) over the handshakes of all sessions to the target. A SYN waits at least
/// <see cref="SessionOptions.InitialRto"/> (so a lost SYN on a quiet LAN is recovered as soon as before) and at most
/// <see cref="SessionOptions.SynRtoCeiling"/> (RFC 6298's initial 1 s: a long-past busy spell never makes a quiet
/// target's lost SYNs wait long). Samples must be unambiguous (a SYN that was not retransmitted, or the target's echo
/// of the SYN's timestamp); otherwise only the handshakes that came back before the timeout would be counted, and a
/// busy relay would look fast.
/// </para>
/// <para>
/// Sessions of a shard run on its thread; the lock covers the shards that have none (tests' actor systems), and costs
/// ~20 ns uncontended, twice per session.
/// </para>
/// </remarks>
internal sealed class HandshakeRtts
{
    /// <summary>More targets than any plan maps: past this many, what was learned is dropped and learned again.</summary>
    internal const int MaxTargets = 1024;

    private readonly Dictionary<(NetAddress Address, ushort Port), Estimate> _targets = [];
    private readonly Lock _lock = new();

    /// <summary>
    /// The timeout of a new session's first SYN to <paramref name="endpoints"/>' target: the estimate within
    /// [<see cref="SessionOptions.InitialRto"/>, <see cref="SessionOptions.SynRtoCeiling"/>], or the former with no sample yet.
    /// </summary>
    public TimeSpan SynRto(in SessionEndpoints endpoints, SessionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Estimate estimate;
        lock (_lock)
        {
            if (!_targets.TryGetValue((endpoints.TargetAddress, endpoints.TargetPort), out estimate))
            {
                return options.InitialRto;
            }
        }

        var rto = estimate.Srtt + (estimate.RttVar * 4);
        var ceiling = options.SynRtoCeiling > options.InitialRto ? options.SynRtoCeiling : options.InitialRto;
        return rto < options.InitialRto ? options.InitialRto : rto > ceiling ? ceiling : rto;
    }

    /// <summary>One unambiguous handshake round trip to <paramref name="endpoints"/>' target.</summary>
    public void Sample(in SessionEndpoints endpoints, TimeSpan sample)
    {
        if (sample < TimeSpan.Zero)
        {
            return;
        }

        lock (_lock)
        {
            if (_targets.Count >= MaxTargets && !_targets.ContainsKey((endpoints.TargetAddress, endpoints.TargetPort)))
            {
                _targets.Clear();
            }

            ref var estimate = ref CollectionsMarshal.GetValueRefOrAddDefault(_targets, (endpoints.TargetAddress, endpoints.TargetPort), out var known);
            if (!known)
            {
                estimate = new Estimate(sample, sample / 2);
                return;
            }

            // RFC 6298 (2.3): RTTVAR from the old SRTT, then SRTT.
            estimate = new Estimate((estimate.Srtt * 7 / 8) + (sample / 8), (estimate.RttVar * 3 / 4) + ((estimate.Srtt - sample).Duration() / 4));
        }
    }

    private readonly record struct Estimate(TimeSpan Srtt, TimeSpan RttVar);
}
