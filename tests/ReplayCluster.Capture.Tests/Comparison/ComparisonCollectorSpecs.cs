using System.Text;
using Akka.Actor;
using Akka.Configuration;
using ReplayCluster.Capture.Comparison;
using ReplayCluster.Capture.Plans;
using ReplayCluster.Capture.Routing;
using ReplayCluster.Capture.Sessions;
using ReplayCluster.Capture.Tests.Sessions;
using ReplayCluster.Comparison;
using ReplayCluster.Configuration;
using ReplayCluster.Membership;
using ReplayCluster.Packets;
using ReplayCluster.Plans;
using ReplayCluster.Protocol;

namespace ReplayCluster.Capture.Tests.Comparison;

/// <summary>
/// The collector puts the online and target streams of a compared session back together and compares them: fed out of
/// order and retransmitted, as captures deliver them, from two sources (the node's own capture, an intercept's tap).
/// </summary>
public sealed class ComparisonCollectorSpecs() : Akka.TestKit.Xunit.TestKit(ConfigurationFactory.ParseString("akka.actor.provider = cluster\nakka.remote.dot-netty.tcp.port = 0"))
{
    private static readonly OnlineConnection Client = new(0x0A0B0B02, 40_000, 0x0A0B0B01, 80);
    private static readonly SessionEndpoints Target = new(0x0AC80001, 50_000, 0x0AFB1502, 80);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private static readonly SessionEndpoints Secondary = new(0x0AC80002, 50_000, 0x0AFB1502, 8089);

    private IActorRef Collector(CaptureComparisonCounters counters, string? secondary = null)
    {
        var plan = new PlanInEffect(AppliedPlan.Own(CaptureNodeRig.DefaultSettings()) with
        {
            Plan = new ReplayPlan { ComparePercent = 100, CompareSecondary = secondary },
        });
        // Local senders count as this node's roles: this test node is the intercept that sends the target's replies.
        var senders = new ClusterSenders(() => [], new HashSet<string> { NodeRoles.Intercept });
        return Sys.ActorOf(ComparisonCollector.Props(plan, new InterceptDirectory(), counters,
            new ComparisonCollectorOptions { ReportInterval = TimeSpan.FromHours(1), CloseGrace = TimeSpan.FromMilliseconds(600) },
            TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, senders));
    }

    private static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);

    [Fact]
    public void A_keep_alive_session_fed_out_of_order_from_both_captures_is_paired_in_order_and_its_difference_found()
    {
        var counters = new CaptureComparisonCounters();
        var collector = Collector(counters);
        var requests = Ascii("GET /users/1 HTTP/1.1\r\nHost: a\r\n\r\nGET /same HTTP/1.1\r\nHost: a\r\n\r\n");
        string Reply(string plan) => $"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {11 + plan.Length}\r\nX-Request-Id: {Guid.NewGuid():N}\r\n\r\n{{\"plan\":\"{plan}\"}}"
            + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        var online = Ascii(Reply("gold"));
        var target = Ascii(Reply("silver"));

        collector.Tell(new OnlinePacket(Client, true, 1000, TcpFlags.Syn, []));
        collector.Tell(new ComparedSessionStarted(Client, Target));
        collector.Tell(new OnlinePacket(Client, false, 5000, TcpFlags.Syn | TcpFlags.Ack, []));
        collector.Tell(new TargetReplySegments([new TargetSegment(Target, 9000, (byte)(TcpFlags.Syn | TcpFlags.Ack), ReadOnlyMemory<byte>.Empty)]));
        // Client bytes in two segments, the second first; the online reply retransmitted in part.
        collector.Tell(new OnlinePacket(Client, true, 1001 + 20, TcpFlags.Ack, requests[20..]));
        collector.Tell(new OnlinePacket(Client, true, 1001, TcpFlags.Ack, requests[..20]));
        collector.Tell(new OnlinePacket(Client, false, 5001, TcpFlags.Ack, online[..50]));
        collector.Tell(new OnlinePacket(Client, false, 5001 + 30, TcpFlags.Ack, online[30..]));
        collector.Tell(new TargetReplySegments([
            new TargetSegment(Target, 9001 + 40, (byte)TcpFlags.Ack, target[40..]),
            new TargetSegment(Target, 9001, (byte)TcpFlags.Ack, target[..40]),
            new TargetSegment(Target, (uint)(9001 + target.Length), (byte)(TcpFlags.Fin | TcpFlags.Ack), ReadOnlyMemory<byte>.Empty),
        ]));
        collector.Tell(new OnlinePacket(Client, true, (uint)(1001 + requests.Length), TcpFlags.Fin | TcpFlags.Ack, []));

        AwaitAssert(() =>
        {
            var summary = collector.Ask<ComparisonSummary>(ComparisonCollector.GetSummary.Instance, TimeSpan.FromSeconds(3)).GetAwaiter().GetResult();
            Assert.Equal((1, 2), (summary.Sessions, summary.PairsCompared));
            var report = ComparisonReport.Build(summary, new NoiseOptions());
            var users = Assert.Single(report.Endpoints, e => e.Endpoint == "GET /users/{id}");
            Assert.Equal("$.plan", Assert.Single(users.Differences).Field);
            Assert.Equal(0, Assert.Single(report.Endpoints, e => e.Endpoint == "GET /same").Differing);
        }, TimeSpan.FromSeconds(10), cancellationToken: Token);
        Assert.Empty(counters.Snapshot());
    }

    [Fact]
    public void A_field_in_which_the_secondary_reference_differs_from_production_is_noise_and_the_target_difference_stays()
    {
        var counters = new CaptureComparisonCounters();
        var collector = Collector(counters, secondary: "10.251.21.2:8089");
        // One request only: no repeated online request could teach the nonce's noise; only the secondary can.
        var request = Ascii("GET /item/7?x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
        byte[] Reply(string nonce, string plan)
        {
            var body = $"{{\"nonce\":\"{nonce}\",\"plan\":\"{plan}\"}}";
            return Ascii($"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n{body}");
        }

        var online = Reply("n1", "gold");
        var secondary = Reply("n2", "gold");
        var target = Reply("n3", "silver");

        collector.Tell(new OnlinePacket(Client, true, 1000, TcpFlags.Syn, []));
        collector.Tell(new ComparedSessionStarted(Client, Target, Secondary));
        collector.Tell(new OnlinePacket(Client, false, 5000, TcpFlags.Syn | TcpFlags.Ack, []));
        collector.Tell(new TargetReplySegments([
            new TargetSegment(Target, 9000, (byte)(TcpFlags.Syn | TcpFlags.Ack), ReadOnlyMemory<byte>.Empty),
            new TargetSegment(Secondary, 7000, (byte)(TcpFlags.Syn | TcpFlags.Ack), ReadOnlyMemory<byte>.Empty),
        ]));
        collector.Tell(new OnlinePacket(Client, true, 1001, TcpFlags.Ack, request));
        collector.Tell(new OnlinePacket(Client, false, 5001, TcpFlags.Ack, online));
        collector.Tell(new TargetReplySegments([
            new TargetSegment(Target, 9001, (byte)TcpFlags.Ack, target),
            new TargetSegment(Secondary, 7001, (byte)TcpFlags.Ack, secondary),
            new TargetSegment(Target, (uint)(9001 + target.Length), (byte)(TcpFlags.Fin | TcpFlags.Ack), ReadOnlyMemory<byte>.Empty),
            new TargetSegment(Secondary, (uint)(7001 + secondary.Length), (byte)(TcpFlags.Fin | TcpFlags.Ack), ReadOnlyMemory<byte>.Empty),
        ]));
        collector.Tell(new OnlinePacket(Client, true, (uint)(1001 + request.Length), TcpFlags.Fin | TcpFlags.Ack, []));

        AwaitAssert(() =>
        {
            var summary = collector.Ask<ComparisonSummary>(ComparisonCollector.GetSummary.Instance, TimeSpan.FromSeconds(3)).GetAwaiter().GetResult();
            Assert.Equal((1, 1), (summary.Sessions, summary.PairsCompared));
            var report = ComparisonReport.Build(summary, new NoiseOptions());
            var item = Assert.Single(report.Endpoints, e => e.Endpoint == "GET /item/{id}");
            Assert.Equal("$.plan", Assert.Single(item.Differences).Field);
            Assert.Contains(item.Noise, n => n.Field == "$.nonce" && n.Reason == NoiseReasons.LearnedFromSecondary);
        }, TimeSpan.FromSeconds(10), cancellationToken: Token);
        Assert.Empty(counters.Snapshot());
    }

    [Fact]
    public async Task A_chosen_connection_that_was_never_replayed_and_replies_of_unknown_sessions_are_counted_not_compared()
    {
        var counters = new CaptureComparisonCounters();
        var collector = Collector(counters);
        collector.Tell(new OnlinePacket(Client, true, 1000, TcpFlags.Syn, []));
        collector.Tell(new OnlinePacket(Client, true, 1001, TcpFlags.Fin | TcpFlags.Ack, []));
        collector.Tell(new TargetReplySegments([new TargetSegment(Target, 1, (byte)TcpFlags.Ack, Ascii("HTTP/1.1 200 OK\r\n"))]));

        AwaitAssert(() =>
        {
            Assert.Equal(1, counters.Get(CaptureComparisonDrop.NotReplayed));
            Assert.Equal(1, counters.Get(CaptureComparisonDrop.TargetUnknown));
        }, TimeSpan.FromSeconds(10), cancellationToken: Token);
        var summary = await collector.Ask<ComparisonSummary>(ComparisonCollector.GetSummary.Instance, TimeSpan.FromSeconds(3), Token);
        Assert.Equal(0, summary.PairsCompared);
    }
}
