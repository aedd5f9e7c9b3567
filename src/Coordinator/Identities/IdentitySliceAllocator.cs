using System.Net;
using Akka.Actor;
using Microsoft.Extensions.Logging;
using ReplayCluster.Coordinator.Plans;
using ReplayCluster.Replay;

namespace ReplayCluster.Coordinator.Identities;

/// <summary>
/// Hands each capture node its own slice of the plan's fake client range and takes it back when the
/// node is gone (it watches every holder: a node that leaves, crashes or is downed terminates its
/// watch). When the plan moves to another range, every holder gets a slice of the new one; the plan
/// keeper only accepts a range disjoint from the old, whose identities running sessions still use.
/// </summary>
internal sealed class IdentitySliceAllocator : ReceiveActor
{
    private readonly HashSet<IActorRef> _holders = [];
    private readonly ILogger _logger;
    private SliceTable<IActorRef>? _table;
    private IPNetwork? _range;
    private int _prefix;

    public IdentitySliceAllocator(IdentityRangeChanged initial, ILogger logger)
    {
        _logger = logger;
        UseRange(initial);
        Receive<RequestIdentitySlice>(request => Grant(Sender, request.Preferred));
        Receive<Terminated>(t => OnGone(t.ActorRef));
        Receive<IdentityRangeChanged>(OnRangeChanged);
    }

    public static Props Props(IdentityRangeChanged initial, ILogger logger) =>
        Akka.Actor.Props.Create(() => new IdentitySliceAllocator(initial, logger));

    private void UseRange(IdentityRangeChanged identities)
    {
        _range = identities.Range is { } text ? IPNetwork.Parse(text) : null;
        _prefix = identities.SlicePrefix;
        _table = _range is { } range ? new SliceTable<IActorRef>(range, _prefix) : null;
    }

    private void Grant(IActorRef holder, string? preferredSlice)
    {
        if (_table is null)
        {
            holder.Tell(new IdentitySliceRefused("the coordinator's plan has no fakeClientRange (replaycluster.coordinator.plan.fake-client-range, -c)"));
            return;
        }

        IPNetwork? preferred = preferredSlice is { } text && IPNetwork.TryParse(text, out var parsed) ? parsed : null;
        if (_table.Grant(holder, preferred) is not { } slice)
        {
            CoordinatorLog.SlicesExhausted(_logger, holder.Path.Address.ToString(), _table.Capacity, _range!.Value.ToString());
            holder.Tell(new IdentitySliceRefused($"all {_table.Capacity} /{_prefix} slices of {_range} are taken"));
            return;
        }

        if (_holders.Add(holder))
        {
            Context.Watch(holder);
        }

        CoordinatorLog.SliceGranted(_logger, slice.ToString(), holder.Path.Address.ToString());
        holder.Tell(new IdentitySliceGranted(slice.ToString()));
    }

    private void OnRangeChanged(IdentityRangeChanged changed)
    {
        UseRange(changed);
        CoordinatorLog.RangeChanged(_logger, changed.Range ?? "(none)", changed.SlicePrefix, _holders.Count);
        foreach (var holder in _holders.ToList())
        {
            Grant(holder, preferredSlice: null);
        }
    }

    private void OnGone(IActorRef holder)
    {
        _holders.Remove(holder);
        foreach (var slice in _table?.Release(holder) ?? [])
        {
            CoordinatorLog.SliceReclaimed(_logger, slice.ToString(), holder.Path.Address.ToString());
        }
    }
}
