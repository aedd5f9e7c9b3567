using ReplayCluster.Protocol;

namespace ReplayCluster.Intercept.Tests.Routing;

/// <summary>Replies of the target as the intercept would record them, for routing tests.</summary>
internal static class TestReplies
{
    public static ResponseRecord For(SessionEndpoints session, uint seq) => new()
    {
        ClientAddress = session.ClientAddress,
        ClientPort = session.ClientPort,
        TargetAddress = session.TargetAddress,
        TargetPort = session.TargetPort,
        Sequence = seq,
        Acknowledgment = 1,
        Window = 65535,
        Flags = 0x10,
        PayloadLength = 0,
    };
}
