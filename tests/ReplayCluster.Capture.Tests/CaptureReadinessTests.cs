namespace ReplayCluster.Capture.Tests;

public sealed class CaptureReadinessTests
{
    [Fact]
    public void Ready_to_replay_needs_an_intercept_that_accepted_the_node_identities_the_plan_and_an_open_capture_in_that_order()
    {
        var readiness = new CaptureReadiness();
        Assert.Contains("no intercept", readiness.ReplayReason, StringComparison.Ordinal);

        // A member, but it has not accepted this node yet (it would hold our route claims).
        readiness.SetIntercepts(1, 0);
        Assert.Contains("waiting for an intercept node to accept this node", readiness.ReplayReason, StringComparison.Ordinal);
        Assert.True(readiness.RepliesCanReturn);

        readiness.SetIntercepts(1, 1);
        Assert.Contains("identity slice", readiness.ReplayReason, StringComparison.Ordinal);

        readiness.SetIdentitiesSettled(true);
        Assert.Contains("replay plan", readiness.ReplayReason, StringComparison.Ordinal);

        readiness.SetPlanSettled(true);
        Assert.True(readiness.IsReady); // capture may start: what the pump waits on
        Assert.Equal("capture not open yet", readiness.ReplayReason);

        readiness.SetCaptureOpen(true);
        Assert.Null(readiness.ReplayReason);
    }

    [Fact]
    public void Losing_the_last_intercept_or_the_capture_makes_the_node_not_ready_again()
    {
        var readiness = new CaptureReadiness();
        readiness.SetIntercepts(1, 1);
        readiness.SetIdentitiesSettled(true);
        readiness.SetPlanSettled(true);
        readiness.SetCaptureOpen(true);

        readiness.SetIntercepts(0, 0);
        Assert.Contains("no intercept", readiness.ReplayReason, StringComparison.Ordinal);

        readiness.SetIntercepts(2, 2);
        readiness.SetCaptureOpen(false);
        Assert.Equal("capture not open yet", readiness.ReplayReason);
    }
}
