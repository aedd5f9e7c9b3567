using System.Globalization;
using System.Security.Cryptography;
using ReplayCluster.Configuration;
using ReplayCluster.Packets;

namespace ReplayCluster.Capture.Identities;

/// <summary>
/// Chooses the client address and port a replayed session uses at the target, and never hands out one
/// the target may still hold.
/// </summary>
/// <remarks>
/// <para>
/// Without a fake range the real client's address is kept (and its port, unless that is taken). With
/// one (tcpcopy's -c), each real client address maps to an address of the range.
/// </para>
/// <para>
/// An identity is never handed out while a live session uses it (tcpcopy's 16-bit hash let two clients
/// share a 4-tuple and lose requests), nor for <see cref="ClientIdentityOptions.ReuseDelay"/> after its
/// session released it: the target may still hold that connection in TIME_WAIT (nginx with
/// <c>Connection: close</c> closes first, so TIME_WAIT sits on the target for Linux's fixed 60 s). A
/// SYN on that 4-tuple from another real connection carries an unrelated ISN and TSval; when PAWS or
/// the sequence check rejects it, Linux answers with a bare ACK, never with a SYN-ACK, and the session
/// ends <c>SynTimeout</c> (measured in the lab: 9 of 20 such reuses, TcpExtPAWSTimewait counting them).
/// Such an identity is skipped and the next one taken: another address of the range, or another port
/// when real addresses are kept.
/// </para>
/// <para>
/// The quarantine lives in this process. A restarted node starts its probe at a random offset into the
/// range, so it does not walk the identities its predecessor just released; a SYN that still meets a
/// stale connection is the session's to recover.
/// </para>
/// <para>
/// Thread-safe: one lock guards the state, held for a bounded probe (at most <see cref="MaxProbes"/>
/// hash lookups), so several session routers may share one mapper.
/// </para>
/// </remarks>
internal sealed class ClientIdentityMapper
{
    /// <summary>Candidates looked at per acquisition before giving up.</summary>
    public const int MaxProbes = 4096;

    // The fake ranges, at most one per family; none when real client addresses are kept.
    private readonly IdentityRange? _ipv4;
    private readonly IdentityRange? _ipv6;
    private readonly bool _keepsReal;
    private readonly uint _probeOffset;
    private readonly TimeProvider _time;
    private readonly long _delayTicks;
    private readonly int _capacity;
    private readonly Lock _gate = new();
    private readonly HashSet<Identity> _inUse = [];

    // Released identities and the timestamp from which each may be handed out again. The queue holds the
    // same entries in release order; with one fixed delay that is also expiry order, so expiring is a
    // walk from its head. An entry whose identity was taken early (or released again) no longer matches
    // the dictionary and is skipped.
    private readonly Dictionary<Identity, long> _quarantined = [];
    private readonly Queue<(Identity Identity, long Until)> _releases = new();
    // Per real connection key (client address and port, target), the candidate index last handed out when
    // it was not the first: the next probe starts there instead of walking every held-back identity again
    // (a client reusing a port every 70 ms would otherwise probe ~1,000 candidates per session). Only keys
    // that moved are kept, and the map is cleared when it outgrows the quarantine.
    private readonly Dictionary<Identity, int> _cursors = [];
    private readonly int _cursorCapacity;
    private long _overflows;
    private long _reusedEarly;
    private long _deferred;

    private ClientIdentityMapper(IdentityRange? ipv4, IdentityRange? ipv6, ClientIdentityOptions? options, TimeProvider? time, uint? probeOffset)
    {
        options ??= new ClientIdentityOptions();
        _ipv4 = ipv4;
        _ipv6 = ipv6;
        _keepsReal = ipv4 is null && ipv6 is null;
        _time = time ?? TimeProvider.System;
        _capacity = options.Quarantines ? options.QuarantineCapacity : 0;
        _delayTicks = (long)(options.ReuseDelay.TotalSeconds * _time.TimestampFrequency);
        _probeOffset = probeOffset ?? (uint)RandomNumberGenerator.GetInt32(int.MaxValue);
        _cursorCapacity = Math.Max(_capacity, 1 << 16);
    }

    /// <summary>Identities currently handed out.</summary>
    public int InUse
    {
        get
        {
            lock (_gate)
            {
                return _inUse.Count;
            }
        }
    }

    /// <summary>Released identities still held back.</summary>
    public int Quarantined
    {
        get
        {
            lock (_gate)
            {
                Expire(_time.GetTimestamp());
                return _quarantined.Count;
            }
        }
    }

    /// <summary>Identities let go before their delay because the quarantine was full.</summary>
    public long QuarantineOverflows => Interlocked.Read(ref _overflows);

    /// <summary>Identities handed out before their delay because every candidate was taken or held back.</summary>
    public long ReusedEarly => Interlocked.Read(ref _reusedEarly);

    /// <summary>Acquisitions that passed over at least one held-back identity (each one a SYN that might have been answered by a stale connection).</summary>
    public long ReuseDeferred => Interlocked.Read(ref _deferred);

    /// <summary>A mapper that keeps real client identities (each owner needs its own: it tracks what is in use).</summary>
    public static ClientIdentityMapper KeepReal(ClientIdentityOptions? options = null, TimeProvider? time = null) => new(null, null, options, time, 0);

    /// <summary>The fake ranges, IPv4 first, as <see cref="FromRange"/> reads them; empty when real addresses are kept.</summary>
    public string Ranges => string.Join(",", new[] { _ipv4, _ipv6 }.OfType<IdentityRange>().Select(r => r.Text));

    /// <summary>Whether this mapper keeps the real client addresses (it has no fake range).</summary>
    public bool KeepsReal => _keepsReal;

    /// <summary>Whether this mapper hands out identities of <paramref name="family"/> (real ones are of every family).</summary>
    public bool Serves(System.Net.Sockets.AddressFamily family) =>
        _keepsReal || (family == System.Net.Sockets.AddressFamily.InterNetwork ? _ipv4 : _ipv6) is not null;

    /// <summary>
    /// Parses one range in CIDR form, or an IPv4 and an IPv6 range separated by a comma. In an IPv4 range the
    /// network and broadcast addresses are not used; in an IPv6 one the subnet-router anycast address (the prefix
    /// itself) is not, and at most <see cref="MaxIpv6Addresses"/> addresses from its start are.
    /// </summary>
    /// <param name="cidr">The range(s), e.g. <c>10.200.0.0/16</c> or <c>10.200.0.0/16,fd00:c8::/64</c>.</param>
    /// <param name="setting">The setting it came from, named in the error.</param>
    /// <param name="options">Reuse rules; null for the defaults.</param>
    /// <param name="time">The clock of the quarantine; null for the system clock.</param>
    /// <param name="probeOffset">Where in the range probing starts, added to the client's hash; null for a random offset per mapper (per process).</param>
    public static ClientIdentityMapper FromRange(string cidr, string setting, ClientIdentityOptions? options = null, TimeProvider? time = null, uint? probeOffset = null)
    {
        ArgumentNullException.ThrowIfNull(cidr);
        IdentityRange? ipv4 = null, ipv6 = null;
        var parts = cidr.Split(',', StringSplitOptions.TrimEntries);
        foreach (var part in parts)
        {
            var range = IdentityRange.TryParse(part)
                ?? throw NodeConfigurationException.ForSetting(setting, $"'{part}' is not an IPv4 range such as 10.200.0.0/16 (prefix 8-30) or an IPv6 range such as fd00:c8::/64 (prefix 16-120)");
            ref var slot = ref (range.First.IsIpv4 ? ref ipv4 : ref ipv6);
            if (slot is not null || parts.Length > 2)
            {
                throw NodeConfigurationException.ForSetting(setting, $"'{cidr}' names more than one range of a family: at most one IPv4 and one IPv6 range");
            }

            slot = range;
        }

        return new ClientIdentityMapper(ipv4, ipv6, options, time, probeOffset);
    }

    /// <summary>Addresses of an IPv6 range used at most (a /64 holds 2^64): enough for every port of every one to be live.</summary>
    public const uint MaxIpv6Addresses = 1u << 24;

    /// <summary>Picks the identity of a new session toward <paramref name="targetAddress"/>:<paramref name="targetPort"/>.</summary>
    /// <returns>
    /// False when every candidate probed (<see cref="MaxProbes"/>: with a range, its addresses with the client's port,
    /// then with other ports) is in use by a live session. When all free ones are still held back,
    /// the one released longest ago is handed out (counted in <see cref="ReusedEarly"/>): a session that
    /// may have to recover its handshake beats one that is certainly lost.
    /// </returns>
    /// <remarks>
    /// The identity is of the target's family: a session toward an IPv6 target gets an address of the IPv6 range,
    /// whatever its client's family. False at once when there is no range of that family, or, keeping real
    /// addresses, when the client's family is not the target's.
    /// </remarks>
    public bool TryAcquire(NetAddress clientAddress, ushort clientPort, NetAddress targetAddress, ushort targetPort, out NetAddress address, out ushort port)
    {
        var range = targetAddress.IsIpv4 ? _ipv4 : _ipv6;
        if (_keepsReal ? clientAddress.IsIpv4 != targetAddress.IsIpv4 : range is null)
        {
            (address, port) = (NetAddress.Unspecified, clientPort);
            return false;
        }

        lock (_gate)
        {
            var now = _time.GetTimestamp();
            Expire(now);
            Identity? fallback = null;
            var fallbackUntil = long.MaxValue;
            // With a range: every address with the client's port, then every address with another port (see TryCandidate).
            var space = range is null ? MaxProbes : (int)Math.Min((long)range.Count * 65536, int.MaxValue);
            var candidates = Math.Min(space, MaxProbes);
            var key = new Identity(clientAddress, clientPort, targetAddress, targetPort);
            var start = _cursors.GetValueOrDefault(key);
            var fallbackIndex = 0;
            for (var n = 0; n < candidates; n++)
            {
                var i = (int)(((long)start + n) % space);
                if (!TryCandidate(range, clientAddress, clientPort, i, out var candidateAddress, out var candidatePort))
                {
                    continue;
                }

                var identity = new Identity(candidateAddress, candidatePort, targetAddress, targetPort);
                if (_inUse.Contains(identity))
                {
                    continue;
                }

                if (_quarantined.TryGetValue(identity, out var until))
                {
                    if (until < fallbackUntil)
                    {
                        fallback = identity;
                        fallbackUntil = until;
                        fallbackIndex = i;
                    }

                    continue;
                }

                if (fallback.HasValue)
                {
                    _deferred++;
                }

                _inUse.Add(identity);
                Remember(key, i);
                (address, port) = (candidateAddress, candidatePort);
                return true;
            }

            if (fallback is { } early)
            {
                _quarantined.Remove(early);
                _inUse.Add(early);
                _reusedEarly++;
                _deferred++;
                Remember(key, fallbackIndex);
                (address, port) = (early.Address, early.Port);
                return true;
            }

            address = NetAddress.Unspecified;
            port = clientPort;
            return false;
        }
    }

    /// <summary>Returns an identity when its session ended; it is held back for the reuse delay.</summary>
    public void Release(NetAddress address, ushort port, NetAddress targetAddress, ushort targetPort)
    {
        var identity = new Identity(address, port, targetAddress, targetPort);
        lock (_gate)
        {
            // Only what this mapper handed out: after a slice change the old range's sessions end here too.
            if (!_inUse.Remove(identity) || _capacity == 0)
            {
                return;
            }

            var now = _time.GetTimestamp();
            Expire(now);
            while (_releases.Count >= _capacity && _releases.TryDequeue(out var oldest))
            {
                if (_quarantined.TryGetValue(oldest.Identity, out var until) && until == oldest.Until)
                {
                    // The oldest is the nearest to the end of its TIME_WAIT: the least harmful to let go.
                    _quarantined.Remove(oldest.Identity);
                    _overflows++;
                }
            }

            var reusableFrom = now + _delayTicks;
            _quarantined[identity] = reusableFrom;
            _releases.Enqueue((identity, reusableFrom));
        }
    }

    private void Remember(Identity key, int index)
    {
        if (index == 0)
        {
            _cursors.Remove(key);
            return;
        }

        if (_cursors.Count >= _cursorCapacity && !_cursors.ContainsKey(key))
        {
            // Only a shortcut: without it the probe starts at the first candidate again, skipping the same way.
            _cursors.Clear();
        }

        _cursors[key] = index;
    }

    private void Expire(long now)
    {
        while (_releases.TryPeek(out var head) && head.Until <= now)
        {
            _releases.Dequeue();
            if (_quarantined.TryGetValue(head.Identity, out var until) && until == head.Until)
            {
                _quarantined.Remove(head.Identity);
            }
        }
    }

    /// <summary>The <paramref name="i"/>-th candidate for a client; false when it is not usable (a privileged port).</summary>
    private bool TryCandidate(IdentityRange? range, NetAddress clientAddress, ushort clientPort, int i, out NetAddress address, out ushort port)
    {
        if (range is null)
        {
            // Real addresses: the client's own port first, then a stride through the rest.
            address = clientAddress;
            port = (ushort)((clientPort + (i * 7919)) % 65536);
            return port >= 1024;
        }

        // Stable per client address within a process, so one client's sessions share one fake address
        // like tcpcopy's, moving on only when that exact 4-tuple is live or held back. When every address of
        // the range is live with the client's port, other ports follow (a stride through them, as for real
        // addresses): a client that reuses its ports within seconds at thousands of connections per second (wrk in
        // the lab: up to 69 uses of one port in 4 s) can keep more than a /24's 254 sessions per port live or
        // lingering while a replay runs behind, and each session refused there was lost (1,157 of ~50k in one
        // side-by-side repetition, bench/README.md).
        var stride = (uint)i / range.Count;
        port = (ushort)((clientPort + (stride * 7919)) % 65536);
        var key = clientAddress.HashKey;
        address = range.At((uint)(((ulong)Mix((uint)(key ^ (key >> 32))) + _probeOffset + ((uint)i % range.Count)) % range.Count));
        return stride == 0 || port >= 1024;
    }

    private static uint Mix(uint x)
    {
        x ^= x >> 16;
        x *= 0x7feb352d;
        x ^= x >> 15;
        x *= 0x846ca68b;
        x ^= x >> 16;
        return x;
    }

    // Auto layout: 40 bytes, not 48 (see SessionEndpoints).
    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Auto)]
    private readonly record struct Identity(NetAddress Address, ushort Port, NetAddress Target, ushort TargetPort);

    /// <summary>One fake range: <see cref="Count"/> usable addresses from <see cref="First"/> on.</summary>
    private sealed class IdentityRange(NetAddress first, uint count, string text)
    {
        public NetAddress First { get; } = first;

        public uint Count { get; } = count;

        public string Text { get; } = text;

        /// <summary>The <paramref name="index"/>-th usable address (index below <see cref="Count"/>).</summary>
        public NetAddress At(uint index) => First.IsIpv4
            ? NetAddress.FromIpv4(First.Ipv4 + index)
            : Ipv6Address.FromValue(First.Ipv6.Value + index);

        public static IdentityRange? TryParse(string cidr)
        {
            var slash = cidr.IndexOf('/', StringComparison.Ordinal);
            if (slash < 0 || !NetAddress.TryParse(cidr.AsSpan(0, slash), out var network) || network.IsUnspecified
                || !int.TryParse(cidr.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var prefix))
            {
                return null;
            }

            if (network.IsIpv4)
            {
                if (prefix is < 8 or > 30)
                {
                    return null;
                }

                var baseAddress = network.Ipv4 & (uint.MaxValue << (32 - prefix));
                return new IdentityRange(NetAddress.FromIpv4(baseAddress + 1), (1u << (32 - prefix)) - 2, $"{Ipv4Address.Format(baseAddress)}/{prefix}");
            }

            if (prefix is < 16 or > 120)
            {
                return null;
            }

            var bits = 128 - prefix;
            var start = network.Ipv6.Value & Ipv6Prefix.Mask(prefix);
            var count = bits >= 25 ? MaxIpv6Addresses : (uint)((UInt128.One << bits) - 1);
            return new IdentityRange(Ipv6Address.FromValue(start + 1), count, $"{Ipv6Address.FromValue(start)}/{prefix}");
        }
    }
}
