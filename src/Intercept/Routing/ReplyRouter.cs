using Akka.Actor;
using Akka.Cluster;
using Microsoft.Extensions.Logging;
using ReplayCluster.Configuration;
using ReplayCluster.Membership;
using ReplayCluster.Protocol;

namespace ReplayCluster.Intercept.Routing;

/// <summary>
/// The intercept's side of the conversation with capture nodes: it checks their route claims and reply channel
/// offers and hands what passes to the <see cref="ReplyForwarder"/>, which routes the replies on the capture
/// thread. Route claims are taken only from members with the capture role, and only for an owner on the sending
/// node itself: another node cannot divert a capture node's replies (refusals counted and logged). It connects the
/// reply channels that capture nodes offer (and reconnects them when they fail); until one is up, and again after it
/// fails, that node's replies travel through remoting.
/// </summary>
internal sealed class ReplyRouter : ReceiveActor, IWithTimers
{
    private const string RetryTimer = "retry";

    // Claims from a node this intercept does not know yet wait for its membership to arrive by gossip, at most
    // this long and this many. A capture node learns of the intercept before the intercept learns of it, and
    // starts replaying at once: in the lab a capture node restarted at the same address had every claim of its
    // first second refused as not a member, and all 400 of its sessions then timed out in SYN_SENT. Gossip
    // brings a joining member within a few rounds (1 s each); a process that is not a member gets nothing by
    // waiting (with cluster TLS it cannot even connect) and is refused when the wait ends.
    private static readonly TimeSpan MemberWait = TimeSpan.FromSeconds(10);
    private const int MaxClaimsAwaitingMember = 1024;

    // A reply channel must connect and prove its key within this long; a failed one is retried this often.
    private static readonly TimeSpan ChannelConnectTimeout = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan ChannelRetryInterval = TimeSpan.FromSeconds(5);

    private readonly InterceptNodeSettings _settings;
    private readonly InterceptStatistics _statistics;
    private readonly ReplyForwarder _forwarder;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ClusterSenders _senders;
    private readonly Queue<(IActorRef Sender, object Message, DateTimeOffset Since)> _awaitingMember = new();

    // The offer of each capture node (kept to reconnect), and whether the forwarder holds its channel.
    private readonly Dictionary<Address, ChannelOffer> _offers = [];

    public ReplyRouter(InterceptNodeSettings settings, InterceptStatistics statistics, ReplyForwarder forwarder, TimeProvider time, ILogger logger,
        ClusterSenders? senders = null)
    {
        _senders = senders ?? ClusterSenders.Of(Context.System);
        _settings = settings;
        _statistics = statistics;
        _forwarder = forwarder;
        _time = time;
        _logger = logger;

        Receive<RouteClaims>(claims => OnClaims(Sender, claims));
        Receive<ReplyChannelOffer>(offer => OnClaims(Sender, offer));
        Receive<ChannelOpened>(OnChannelOpened);
        Receive<ChannelFailed>(OnChannelFailed);
        Receive<ChannelLost>(OnChannelLost);
        Receive<Retry>(_ => OnRetry());
        Receive<LogStatistics>(_ => InterceptLog.Statistics(_logger, _statistics.Summary()));
        Receive<ClusterEvent.MemberRemoved>(e => OnMemberRemoved(e.Member.Address));
        Receive<ClusterEvent.IMemberEvent>(_ => RetryAwaitingMember(expireBefore: null));
        Receive<ClusterEvent.CurrentClusterState>(_ => { });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(InterceptNodeSettings settings, InterceptStatistics statistics, ReplyForwarder forwarder, TimeProvider time, ILogger logger,
        ClusterSenders? senders = null) =>
        Akka.Actor.Props.Create(() => new ReplyRouter(settings, statistics, forwarder, time, logger, senders));

    protected override void PreStart()
    {
        // Joins too: route claims that came before their node's membership wait for it.
        Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, typeof(ClusterEvent.IMemberEvent));
        Timers.StartPeriodicTimer("statistics", LogStatistics.Instance, _settings.StatisticsInterval);
    }

    protected override void PostStop()
    {
        Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
        InterceptLog.Statistics(_logger, _statistics.Summary());
    }

    // Route claims and channel offers: both only from capture members, both wait for a node's membership.
    private void OnClaims(IActorRef sender, object message)
    {
        var verdict = _senders.Check(sender, NodeRoles.Capture);
        if (verdict == SenderVerdict.NotMember && _awaitingMember.Count < MaxClaimsAwaitingMember)
        {
            _awaitingMember.Enqueue((sender, message, _time.GetUtcNow()));
            _statistics.ClaimsAwaitingMember = _awaitingMember.Count;
            ArmRetry();
            return;
        }

        // Claims of one node apply in the order sent: those still waiting go first.
        if (verdict == SenderVerdict.Accepted && _awaitingMember.Count > 0)
        {
            RetryAwaitingMember(expireBefore: null);
        }

        Apply(sender, message, verdict, "only capture nodes claim routes");
    }

    private void Apply(IActorRef sender, object message, SenderVerdict verdict, string refusalDetail)
    {
        if (message is ReplyChannelOffer offer)
        {
            ApplyOffer(sender, offer, verdict, refusalDetail);
            return;
        }

        var claims = (RouteClaims)message;
        if (verdict != SenderVerdict.Accepted)
        {
            _statistics.Refusals.Refuse(_logger, "route claims", sender.Path.ToString(), ClusterSenders.Reason(verdict), refusalDetail);
            return;
        }

        if (claims.Owner.Path.Address != sender.Path.Address)
        {
            _statistics.Refusals.Refuse(_logger, "route claims", sender.Path.ToString(), RefusalReasons.Impersonation,
                $"the owner {claims.Owner.Path} is not on the sending node");
            return;
        }

        _forwarder.Post(new ReplyForwarder.Command.Claims(claims));
    }

    private void ApplyOffer(IActorRef sender, ReplyChannelOffer offer, SenderVerdict verdict, string refusalDetail)
    {
        var address = sender.Path.Address;
        if (verdict != SenderVerdict.Accepted)
        {
            _statistics.Refusals.Refuse(_logger, "reply channel offer", sender.Path.ToString(), ClusterSenders.Reason(verdict), refusalDetail);
            return;
        }

        // The shards must be the sender's own, and the endpoint its cluster host: a node cannot divert another's
        // replies, nor point this node's connections at a third host.
        if (offer.Shards.Any(shard => shard.Path.Address != address) || !string.Equals(offer.Host, address.Host, StringComparison.OrdinalIgnoreCase))
        {
            _statistics.Refusals.Refuse(_logger, "reply channel offer", sender.Path.ToString(), RefusalReasons.Impersonation,
                $"it names {offer.Host} and shards not on the sending node {address}");
            return;
        }

        if (!_settings.ReplyChannel)
        {
            return;
        }

        // A new offer replaces the old one: the node restarted at the same address (new shards, new key).
        if (_offers.Remove(address, out var previous) && previous.Open)
        {
            _forwarder.Post(new ReplyForwarder.Command.ChannelDown(address));
        }

        var current = new ChannelOffer(offer);
        _offers[address] = current;
        Connect(address, current);
    }

    private void Connect(Address address, ChannelOffer offer)
    {
        offer.Connecting = true;
        offer.LastAttempt = _time.GetUtcNow();
        ReplyChannel.ConnectAsync(offer.Offer, _settings.BatchSize, ChannelConnectTimeout).PipeTo(Self,
            success: channel => new ChannelOpened(address, offer, channel),
            failure: error => new ChannelFailed(address, offer, error.GetBaseException().Message));
    }

    private void OnChannelOpened(ChannelOpened opened)
    {
        if (!_offers.TryGetValue(opened.Address, out var offer) || offer != opened.Offer)
        {
            // The node left or offered anew while this one connected.
            opened.Channel.Dispose();
            return;
        }

        offer.Connecting = false;
        offer.Open = true;
        offer.Channel = opened.Channel;

        // The node's claims come through the channel now (the forwarder reads them on its thread); they are its own
        // (the channel proved its offer's key).
        _forwarder.Post(new ReplyForwarder.Command.ChannelUp(opened.Address, opened.Channel, offer.Offer.Shards, $"{offer.Offer.Host}:{offer.Offer.Port}"));
    }

    private void OnChannelFailed(ChannelFailed failed)
    {
        _statistics.ReplyChannelFailures++;
        if (_offers.TryGetValue(failed.Address, out var offer) && offer == failed.Offer)
        {
            offer.Connecting = false;
            InterceptLog.ChannelFailed(_logger, failed.Address.ToString(), failed.Reason, ChannelRetryInterval.TotalSeconds);
            ArmRetry();
        }
    }

    // The forwarder closed a channel whose send failed: connect again later, with the same offer.
    private void OnChannelLost(ChannelLost lost)
    {
        if (_offers.TryGetValue(lost.Address, out var offer) && offer.Channel == lost.Channel)
        {
            offer.Open = false;
            offer.Channel = null;
            ArmRetry();
        }
    }

    private void OnRetry()
    {
        if (_awaitingMember.Count > 0)
        {
            RetryAwaitingMember(_time.GetUtcNow() - MemberWait);
        }

        var now = _time.GetUtcNow();
        foreach (var (address, offer) in _offers)
        {
            if (!offer.Connecting && !offer.Open && now - offer.LastAttempt >= ChannelRetryInterval)
            {
                Connect(address, offer);
            }
        }

        ArmRetry();
    }

    // Applies the waiting claims whose node is now a member, in arrival order, and refuses those that waited
    // since before expireBefore.
    private void RetryAwaitingMember(DateTimeOffset? expireBefore)
    {
        var count = _awaitingMember.Count;
        for (var i = 0; i < count; i++)
        {
            var (sender, message, since) = _awaitingMember.Dequeue();
            var verdict = _senders.Check(sender, NodeRoles.Capture);
            if (verdict == SenderVerdict.NotMember && (expireBefore is null || since >= expireBefore))
            {
                _awaitingMember.Enqueue((sender, message, since));
                continue;
            }

            Apply(sender, message, verdict, $"only capture nodes claim routes; not a member after {MemberWait.TotalSeconds:F0} s");
        }

        _statistics.ClaimsAwaitingMember = _awaitingMember.Count;
        ArmRetry();
    }

    private void OnMemberRemoved(Address address)
    {
        _offers.Remove(address);
        _forwarder.Post(new ReplyForwarder.Command.NodeLeft(address));
        ArmRetry();
    }

    // The retry timer runs only while claims wait for membership or a channel waits to reconnect: an idle node
    // does not wake for it (bench/idle.sh counts wake-ups).
    private void ArmRetry()
    {
        var needed = _awaitingMember.Count > 0 || _offers.Values.Any(offer => !offer.Open);
        if (needed == Timers.IsTimerActive(RetryTimer))
        {
            return;
        }

        if (needed)
        {
            Timers.StartPeriodicTimer(RetryTimer, Retry.Instance, ReplyForwarder.SweepInterval);
        }
        else
        {
            Timers.Cancel(RetryTimer);
        }
    }

    /// <summary>The forwarder closed <paramref name="Channel"/> of the capture node at <paramref name="Address"/> after a failed send.</summary>
    internal sealed record ChannelLost(Address Address, ReplyChannel Channel);

    // A capture node's offer and the state of its channel; compared by reference to tell a stale outcome.
    private sealed class ChannelOffer(ReplyChannelOffer offer)
    {
        public ReplyChannelOffer Offer { get; } = offer;

        public bool Connecting { get; set; }

        public bool Open { get; set; }

        public ReplyChannel? Channel { get; set; }

        public DateTimeOffset LastAttempt { get; set; }
    }

    private sealed record ChannelOpened(Address Address, ChannelOffer Offer, ReplyChannel Channel);

    private sealed record ChannelFailed(Address Address, ChannelOffer Offer, string Reason);

    private sealed class Retry
    {
        public static readonly Retry Instance = new();
    }

    private sealed class LogStatistics
    {
        public static readonly LogStatistics Instance = new();
    }
}
