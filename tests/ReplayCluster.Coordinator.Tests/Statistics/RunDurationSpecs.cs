using Akka.Actor;
using Microsoft.Extensions.Time.Testing;
using ReplayCluster.Coordinator.Statistics;
using ReplayCluster.Statistics;

namespace ReplayCluster.Coordinator.Tests.Statistics;

/// <summary>A run started with a duration stops by itself when it is over.</summary>
public sealed class RunDurationSpecs() : Akka.TestKit.Xunit.TestKit(Akka.Configuration.ConfigurationFactory.ParseString("akka.actor.provider = cluster\nakka.remote.dot-netty.tcp.port = 0\nakka.cluster.roles = [capture, intercept]"))
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public void A_run_with_a_duration_stops_itself_when_it_is_over()
    {
        var aggregator = Sys.ActorOf(StatisticsAggregator.Props(_time));
        aggregator.Tell(Report(captured: 100));
        aggregator.Tell(new StartRun(TimeSpan.FromSeconds(30)));
        var started = ExpectMsg<RunReport>(cancellationToken: Cancellation);
        Assert.Equal(30, started.PlannedDurationSeconds);
        Assert.Contains("running (0.0 s, planned 30 s)", started.Summary(), StringComparison.Ordinal);

        aggregator.Tell(Report(captured: 140));
        _time.Advance(TimeSpan.FromSeconds(29));
        Assert.Null(CurrentReport(aggregator).StoppedAt);

        _time.Advance(TimeSpan.FromSeconds(1));
        AwaitAssert(() => Assert.NotNull(CurrentReport(aggregator).StoppedAt), cancellationToken: Cancellation);

        // Reports after the end do not change the run.
        aggregator.Tell(Report(captured: 500));
        _time.Advance(TimeSpan.FromSeconds(5));
        var report = CurrentReport(aggregator);
        Assert.Equal(40, report.OnlineRequests);
        Assert.Equal(30, report.DurationSeconds, 3);
        Assert.Equal(started.StartedAt + TimeSpan.FromSeconds(30), report.StoppedAt);
        Assert.Contains("(30.0 s, planned 30 s)", report.Summary(), StringComparison.Ordinal);

        aggregator.Tell(StopRun.Instance);
        ExpectMsg<NoRun>(cancellationToken: Cancellation);
    }

    [Fact]
    public void A_run_stopped_by_hand_or_restarted_is_not_stopped_by_its_old_timer()
    {
        var aggregator = Sys.ActorOf(StatisticsAggregator.Props(_time));
        aggregator.Tell(new StartRun(TimeSpan.FromSeconds(10)));
        ExpectMsg<RunReport>(cancellationToken: Cancellation);
        _time.Advance(TimeSpan.FromSeconds(5));
        aggregator.Tell(StartRun.Instance);
        Assert.Null(ExpectMsg<RunReport>(cancellationToken: Cancellation).PlannedDurationSeconds);

        _time.Advance(TimeSpan.FromSeconds(20));
        Assert.Null(CurrentReport(aggregator).StoppedAt);

        aggregator.Tell(new StartRun(TimeSpan.FromSeconds(10)));
        ExpectMsg<RunReport>(cancellationToken: Cancellation);
        aggregator.Tell(StopRun.Instance);
        var stopped = ExpectMsg<RunReport>(cancellationToken: Cancellation);
        _time.Advance(TimeSpan.FromSeconds(20));
        Assert.Equal(stopped.StoppedAt, CurrentReport(aggregator).StoppedAt);
    }

    private NodeStatisticsReport Report(long captured) =>
        new("capture", _time.GetUtcNow().ToUnixTimeMilliseconds(), new Dictionary<string, long> { ["requests_online"] = captured, ["requests_captured"] = captured, ["requests_delivered"] = captured });

    private RunReport CurrentReport(IActorRef aggregator)
    {
        aggregator.Tell(GetRunReport.Instance);
        return ExpectMsg<RunReport>(cancellationToken: Cancellation);
    }
}
