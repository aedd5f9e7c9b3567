namespace ReplayCluster.Cluster;

/// <summary>
/// Names of the actors nodes address on each other (under /user). Both sides of each conversation use
/// these, so a rename cannot leave one side sending to dead letters.
/// </summary>
public static class ActorNames
{
    /// <summary>The capture node's session manager; intercepts send it response batches.</summary>
    public const string Sessions = "sessions";

    /// <summary>The intercept node's reply router; capture nodes send it their route claims.</summary>
    public const string ReplyRouter = "reply-router";

    /// <summary>The coordinator's identity slice allocator; capture nodes ask it for their slice.</summary>
    public const string IdentitySlices = "identity-slices";

    /// <summary>The coordinator's statistics aggregator; every node reports to it.</summary>
    public const string Statistics = "statistics";

    /// <summary>The coordinator's replay plan keeper; capture nodes subscribe to the plan there.</summary>
    public const string ReplayPlan = "replay-plan";
}
