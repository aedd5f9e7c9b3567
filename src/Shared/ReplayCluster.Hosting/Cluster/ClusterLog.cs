using Microsoft.Extensions.Logging;

namespace ReplayCluster.Cluster;

/// <summary>
/// Cluster membership log lines. Their wording is stable: operators grep for them and the lab tests
/// wait on them ("Member up", "Member removed", "Joined cluster", "Not joined").
/// </summary>
internal static partial class ClusterLog
{
    [LoggerMessage(EventId = 100, Level = LogLevel.Information,
        Message = "Joined cluster as {Address} with roles [{Roles}] after {ElapsedMs} ms")]
    public static partial void JoinedCluster(ILogger logger, string address, string roles, long elapsedMs);

    [LoggerMessage(EventId = 101, Level = LogLevel.Warning,
        Message = "Not joined the cluster after {ElapsedSeconds} s: no answer from seed nodes [{Seeds}]. " +
                  "Check that a seed runs and that {Self} is reachable from it; retrying")]
    public static partial void NotJoinedYet(ILogger logger, long elapsedSeconds, string seeds, string self);

    [LoggerMessage(EventId = 102, Level = LogLevel.Information, Message = "Member up: {Address} roles=[{Roles}]")]
    public static partial void MemberUp(ILogger logger, string address, string roles);

    [LoggerMessage(EventId = 103, Level = LogLevel.Information, Message = "Member leaving: {Address} roles=[{Roles}]")]
    public static partial void MemberLeaving(ILogger logger, string address, string roles);

    [LoggerMessage(EventId = 104, Level = LogLevel.Information,
        Message = "Member removed: {Address} roles=[{Roles}] previous status {PreviousStatus}")]
    public static partial void MemberRemoved(ILogger logger, string address, string roles, string previousStatus);

    [LoggerMessage(EventId = 105, Level = LogLevel.Warning, Message = "Member unreachable: {Address} roles=[{Roles}]")]
    public static partial void MemberUnreachable(ILogger logger, string address, string roles);

    [LoggerMessage(EventId = 114, Level = LogLevel.Information,
        Message = "Leaving member unreachable: {Address} roles=[{Roles}] (it shut down before its removal; it is removed all the same)")]
    public static partial void LeavingMemberUnreachable(ILogger logger, string address, string roles);

    [LoggerMessage(EventId = 106, Level = LogLevel.Information, Message = "Member reachable again: {Address} roles=[{Roles}]")]
    public static partial void MemberReachable(ILogger logger, string address, string roles);

    [LoggerMessage(EventId = 107, Level = LogLevel.Information, Message = "Left the cluster: {Address}")]
    public static partial void LeftCluster(ILogger logger, string address);

    [LoggerMessage(EventId = 108, Level = LogLevel.Information,
        Message = "Forming a new cluster: no seed nodes configured, the coordinator joins itself at {Address}")]
    public static partial void FormingCluster(ILogger logger, string address);

    [LoggerMessage(EventId = 109, Level = LogLevel.Warning,
        Message = "Cluster TLS is OFF (replaycluster.cluster.tls = off): any host that reaches {Address} can join this cluster " +
                  "and send its nodes messages. Use this for development only")]
    public static partial void TlsOff(ILogger logger, string address);

    [LoggerMessage(EventId = 110, Level = LogLevel.Information,
        Message = "Cluster TLS on: this node is {Subject} (expires {NotAfter:yyyy-MM-dd}); peers must present a certificate of the cluster CA")]
    public static partial void TlsOn(ILogger logger, string subject, DateTime notAfter);

    [LoggerMessage(EventId = 111, Level = LogLevel.Warning,
        Message = "Downing member {Address}: it claims roles [{Claimed}] but its certificate carries [{Certified}]")]
    public static partial void UncertifiedMemberDowned(ILogger logger, string address, string claimed, string certified);

    [LoggerMessage(EventId = 112, Level = LogLevel.Information, Message = "Node stopping: {Reason}")]
    public static partial void NodeStopping(ILogger logger, string reason);

    [LoggerMessage(EventId = 113, Level = LogLevel.Error,
        Message = "Node stopping without being asked to: {Reason}. It exits with status 1 so that a supervisor (systemd, Kubernetes) restarts it")]
    public static partial void NodeStoppingUnasked(ILogger logger, string reason);
}
