using System.Net;
using Akka.Actor;
using Akka.Cluster;
using Microsoft.Extensions.Logging;
using ReplayCluster.Configuration;
using ReplayCluster.Coordinator.Plans;
using ReplayCluster.Membership;
using ReplayCluster.Plans;
using ReplayCluster.Protocol;

namespace ReplayCluster.Coordinator.Identities;

/// <summary>
/// Hands each capture node its own slice of the plan's fake client range and takes it back when the
/// node is gone (it leaves, crashes or is downed: the cluster removes it). When the plan moves to another
/// range, every holder gets a slice of the new one; the plan keeper only accepts a range disjoint from the
/// old, whose identities running sessions still use.
/// </summary>
/// <remarks>
/// Requests are taken only from members with the capture role (others are refused, counted and logged),
/// and a node holds at most one slice, however many actors of it ask: a slice belongs to a node's address,
/// so a member cannot drain the range by asking under many names. A holder is dropped by membership, not
/// by remote death watch (which untrusted mode switches off).
/// </remarks>
internal sealed class IdentitySliceAllocator : ReceiveActor
{
    private readonly Dictionary<Address, IActorRef> _holders = [];
    private readonly ILogger _logger;
    private readonly ClusterSenders _senders;
    private readonly MessageRefusals _refusals;
    private SliceTable<Address>? _table;
    private FakeClientRanges? _range;
    private int _prefix;

    public IdentitySliceAllocator(IdentityRangeChanged initial, ILogger logger, ClusterSenders? senders = null, MessageRefusals? refusals = null)
    {
        _logger = logger;
        _senders = senders ?? ClusterSenders.Of(Context.System);
        _refusals = refusals ?? new MessageRefusals();
        UseRange(initial);
        Receive<RequestIdentitySlice>(OnRequest);
        Receive<ClusterEvent.MemberRemoved>(e => OnGone(e.Member.Address));
        Receive<ClusterEvent.IClusterDomainEvent>(_ => { });
        Receive<IdentityRangeChanged>(OnRangeChanged);
    }

    public static Props Props(IdentityRangeChanged initial, ILogger logger, ClusterSenders? senders = null, MessageRefusals? refusals = null) =>
        Akka.Actor.Props.Create(() => new IdentitySliceAllocator(initial, logger, senders, refusals));

    protected override void PreStart() =>
        Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.MemberRemoved));

    protected override void PostStop() => Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);

    private void UseRange(IdentityRangeChanged identities)
    {
        // Validated with the plan (ReplayPlanValidator): an IPv4 range, and maybe an IPv6 range sliced alongside.
        _range = FakeClientRanges.TryParse(identities.Range);
        _prefix = identities.SlicePrefix;
        _table = _range is { } range ? new SliceTable<Address>(range.Ipv4, _prefix) : null;
    }

    private void OnRequest(RequestIdentitySlice request)
    {
        var verdict = _senders.Check(Sender, NodeRoles.Capture);
        if (verdict != SenderVerdict.Accepted)
        {
            _refusals.Refuse(_logger, "identity slice request", Sender.Path.ToString(), ClusterSenders.Reason(verdict), "only capture nodes hold slices");
            return;
        }

        Grant(Sender, request.Preferred);
    }

    private void Grant(IActorRef holder, string? preferredSlice)
    {
        if (_table is null)
        {
            holder.Tell(new IdentitySliceRefused("the coordinator's plan has no fakeClientRange (replaycluster.coordinator.plan.fake-client-range, -c)"));
            return;
        }

        var node = holder.Path.Address;
        // A slice is named by its IPv4 part (an IPv6 part, when there is one, has the same index).
        var preferredIpv4 = preferredSlice?.Split(',')[0];
        IPNetwork? preferred = preferredIpv4 is { Length: <= 64 } text && IPNetwork.TryParse(text, out var parsed) ? parsed : null;
        if (_table.Grant(node, preferred) is not { } slice)
        {
            CoordinatorLog.SlicesExhausted(_logger, node.ToString(), _table.Capacity, _range!.ToString());
            holder.Tell(new IdentitySliceRefused($"all {_table.Capacity} /{_prefix} slices of {_range!.Ipv4} are taken"));
            return;
        }

        if (_range!.SliceText(slice, _prefix) is not { } granted)
        {
            _table.Release(node);
            holder.Tell(new IdentitySliceRefused($"{_range.Ipv6} has no /{FakeClientRanges.Ipv6SlicePrefix} slice beside {slice}"));
            return;
        }

        _holders[node] = holder;
        CoordinatorLog.SliceGranted(_logger, granted, node.ToString());
        holder.Tell(new IdentitySliceGranted(granted));
    }

    private void OnRangeChanged(IdentityRangeChanged changed)
    {
        UseRange(changed);
        CoordinatorLog.RangeChanged(_logger, changed.Range ?? "(none)", changed.SlicePrefix, _holders.Count);
        foreach (var holder in _holders.Values.ToList())
        {
            Grant(holder, preferredSlice: null);
        }
    }

    private void OnGone(Address node)
    {
        _holders.Remove(node);
        foreach (var slice in _table?.Release(node) ?? [])
        {
            CoordinatorLog.SliceReclaimed(_logger, slice.ToString(), node.ToString());
        }
    }
}
