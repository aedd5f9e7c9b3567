using System.Net.NetworkInformation;
using System.Net.Sockets;
using ReplayCluster.Packets;
using ReplayCluster.Plans;
using ReplayCluster.Protocol;

namespace ReplayCluster.Capture.Plans;

/// <summary>
/// This node's own rules for what a plan from the coordinator may ask of it, on top of the plan's shared
/// validation: targets only inside <c>allowed-targets</c> (or, without that list, only the target addresses of
/// the node's own -x), never one of this host's own addresses (every production request would run twice in
/// production) nor loopback, link-local, multicast or broadcast; fake ranges private unless this node opts in.
/// A remote plan cannot widen any of it: the rules come from the local configuration only.
/// </summary>
internal sealed class NodePlanPolicy
{
    private readonly CaptureNodeSettings _settings;
    private readonly Func<IReadOnlyCollection<NetAddress>> _ownAddresses;

    /// <param name="settings">The node's settings (allowed targets, own -x, public-range opt-in).</param>
    /// <param name="ownAddresses">This host's addresses; read at every check (interfaces come and go). Null reads the interfaces.</param>
    public NodePlanPolicy(CaptureNodeSettings settings, Func<IReadOnlyCollection<NetAddress>>? ownAddresses = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        _settings = settings;
        _ownAddresses = ownAddresses ?? LocalAddresses;
        Rules = new PlanRules { AllowPublicFakeRange = settings.AllowPublicFakeRange };
    }

    /// <summary>The validation rules this node opted into.</summary>
    public PlanRules Rules { get; }

    /// <summary>Why this node refuses to replay toward <paramref name="targets"/>; null when every target is allowed.</summary>
    public string? WhyNotAllowed(TargetMapping targets)
    {
        ArgumentNullException.ThrowIfNull(targets);
        var own = _ownAddresses();
        foreach (var route in targets.Routes)
        {
            var target = route.TargetAddress;
            if (AddressRules.WhyNeverTarget(target) is { } never)
            {
                return $"{never}: never a target";
            }

            if (own.Contains(target))
            {
                return $"{target} is an address of this host: every replayed request would run twice in production";
            }

            if (_settings.AllowedTargets.Count > 0)
            {
                if (!_settings.AllowedTargets.Any(n => n.Contains(target)))
                {
                    return $"{target} is not in this node's allowed-targets ({string.Join(", ", _settings.AllowedTargets)})";
                }
            }
            else if (_settings.Targets is not { } local || !local.Routes.Any(r => r.TargetAddress == target))
            {
                return $"{target} is not a target of this node's own -x, and replaycluster.capture.allowed-targets is empty "
                    + "(set it to the networks plans may name)";
            }
        }

        return null;
    }

    /// <summary>Why <paramref name="slice"/> is no slice this node replays from; null when it is one.</summary>
    /// <param name="slice">The slice granted (CIDR: an IPv4 slice, and an IPv6 /64 beside it when the plan has an IPv6 range).</param>
    /// <param name="planRange">The fake client range of the plan in effect.</param>
    public string? WhyNotSlice(string slice, string planRange)
    {
        var parts = slice.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length > 2 || !AllowedNetwork.TryParse(parts[0], out var granted) || !granted.Network.IsIpv4 || !parts[0].Contains('/', StringComparison.Ordinal)
            || granted.Prefix is < 8 or > 30 || granted.Network.ToString() != parts[0][..parts[0].IndexOf('/', StringComparison.Ordinal)])
        {
            return $"'{slice}' is not a network such as 10.200.3.0/24 (prefix 8-30), optionally with an IPv6 /64 beside it";
        }

        if (FakeClientRanges.TryParse(planRange) is not { } ranges)
        {
            return $"the plan's range '{planRange}' is unreadable";
        }

        var range = ranges.Ipv4;
        var rangeStart = Ipv4Address.FromIPAddress(range.BaseAddress);
        if (!AddressRules.Within(granted.Network.Ipv4, granted.Prefix, rangeStart, range.PrefixLength))
        {
            return $"{granted} is not inside the plan's fake client range {range}";
        }

        if (AddressRules.WhyNotFakeRange(granted.Network.Ipv4, granted.Prefix, _settings.AllowPublicFakeRange) is { } notFake)
        {
            return notFake;
        }

        if (parts.Length == 1)
        {
            return null;
        }

        if (!AllowedNetwork.TryParse(parts[1], out var granted6) || granted6.Network.IsIpv4 || granted6.Prefix != FakeClientRanges.Ipv6SlicePrefix
            || granted6.Network.ToString() != parts[1][..Math.Max(0, parts[1].IndexOf('/', StringComparison.Ordinal))])
        {
            return $"'{parts[1]}' is not an IPv6 /{FakeClientRanges.Ipv6SlicePrefix} such as fd00:c8:0:3::/64";
        }

        var slice6 = new Ipv6Prefix(granted6.Network.Ipv6, granted6.Prefix);
        if (ranges.Ipv6 is not { } range6 || !range6.Contains(slice6))
        {
            return $"{slice6} is not inside the plan's IPv6 fake client range {(ranges.Ipv6?.ToString() ?? "(none)")}";
        }

        return AddressRules.WhyNotFakeRange(slice6, _settings.AllowPublicFakeRange);
    }

    /// <summary>This host's IPv4 and IPv6 addresses, all interfaces, up or not.</summary>
    public static IReadOnlyCollection<NetAddress> LocalAddresses()
    {
        var addresses = new HashSet<NetAddress>();
        foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
        {
            foreach (var unicast in nic.GetIPProperties().UnicastAddresses)
            {
                if (unicast.Address.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6)
                {
                    addresses.Add(NetAddress.FromIPAddress(unicast.Address));
                }
            }
        }

        return addresses;
    }
}
