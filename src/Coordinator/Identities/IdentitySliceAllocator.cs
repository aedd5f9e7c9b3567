using System.Net;
using Akka.Actor;
using Microsoft.Extensions.Logging;
using ReplayCluster.Replay;

namespace ReplayCluster.Coordinator.Identities;

/// <summary>
/// Hands each capture node its own slice of the fake client range and takes it back when the node is
/// gone (it watches every holder: a node that leaves, crashes or is downed terminates its watch).
/// </summary>
internal sealed class IdentitySliceAllocator : ReceiveActor
{
    private readonly SliceTable<IActorRef>? _table;
    private readonly CoordinatorSettings _settings;
    private readonly ILogger _logger;

    public IdentitySliceAllocator(CoordinatorSettings settings, ILogger logger)
    {
        _settings = settings;
        _logger = logger;
        _table = settings.FakeClientRange is { } range ? new SliceTable<IActorRef>(range, settings.SlicePrefix) : null;
        Receive<RequestIdentitySlice>(OnRequest);
        Receive<Terminated>(t => OnGone(t.ActorRef));
    }

    public static Props Props(CoordinatorSettings settings, ILogger logger) =>
        Akka.Actor.Props.Create(() => new IdentitySliceAllocator(settings, logger));

    private void OnRequest(RequestIdentitySlice request)
    {
        if (_table is null)
        {
            Sender.Tell(new IdentitySliceRefused("the coordinator has no replaycluster.coordinator.fake-client-range"));
            return;
        }

        IPNetwork? preferred = request.Preferred is { } text && IPNetwork.TryParse(text, out var parsed) ? parsed : null;
        if (_table.Grant(Sender, preferred) is not { } slice)
        {
            CoordinatorLog.SlicesExhausted(_logger, Sender.Path.Address.ToString(), _table.Capacity, _settings.FakeClientRange!.Value.ToString());
            Sender.Tell(new IdentitySliceRefused($"all {_table.Capacity} /{_settings.SlicePrefix} slices of {_settings.FakeClientRange} are taken"));
            return;
        }

        Context.Watch(Sender);
        CoordinatorLog.SliceGranted(_logger, slice.ToString(), Sender.Path.Address.ToString());
        Sender.Tell(new IdentitySliceGranted(slice.ToString()));
    }

    private void OnGone(IActorRef holder)
    {
        foreach (var slice in _table?.Release(holder) ?? [])
        {
            CoordinatorLog.SliceReclaimed(_logger, slice.ToString(), holder.Path.Address.ToString());
        }
    }
}
