using Akka.Actor;
using ReplayCluster.Capture.Sessions;

namespace ReplayCluster.Capture.Tests.Sessions;

public sealed class SessionWakeupsTests : Akka.TestKit.Xunit.TestKit
{
    private static readonly long Resolution = SessionWakeups.Resolution.Ticks;

    [Fact]
    public void A_scan_takes_out_what_is_due_before_the_next_scan_and_leaves_the_rest()
    {
        var wakeups = new SessionWakeups();
        var (a, b, c) = (CreateTestProbe().Ref, CreateTestProbe().Ref, CreateTestProbe().Ref);
        wakeups.WakeAt(a, 1_000);
        wakeups.WakeAt(b, 1_000 + Resolution);
        wakeups.WakeAt(c, 1_000 + Resolution + 1);
        var due = new List<IActorRef>();

        wakeups.TakeDue(1_000, due);

        Assert.Equal([a, b], due.OrderBy(r => r == a ? 0 : 1));
        Assert.Equal(1, wakeups.Count);
        due.Clear();
        wakeups.TakeDue(1_000, due);
        Assert.Empty(due);
        wakeups.TakeDue(1_001, due);
        Assert.Equal([c], due);
        Assert.Equal(0, wakeups.Count);
    }

    [Fact]
    public void A_session_has_one_wake_up_at_most_its_last_wish_and_none_once_forgotten()
    {
        var wakeups = new SessionWakeups();
        var (a, b) = (CreateTestProbe().Ref, CreateTestProbe().Ref);
        wakeups.WakeAt(a, 50 * Resolution);
        wakeups.WakeAt(a, 10 * Resolution);
        wakeups.WakeAt(b, 10 * Resolution);
        Assert.Equal(2, wakeups.Count);

        wakeups.Forget(b);
        var due = new List<IActorRef>();
        wakeups.TakeDue(10 * Resolution, due);

        Assert.Equal([a], due);
        Assert.Equal(0, wakeups.Count);
    }
}
