using ReplayCluster.CommandLine;
using ReplayCluster.Intercept;
using ReplayCluster.Configuration;

var manual = new NodeManual
{
    Name = "replaycluster-intercept",
    Summary = "catch a target host's replies and return them to the capture nodes",
    Description =
    [
        "An intercept node runs where the target's replies to replayed clients are routed: an " +
        "assistant host with ip_forward=0 acting as a black hole, or an ifb sink on the target. It " +
        "captures those replies so they never reach a real client and sends compact response " +
        "records to the capture node that owns each session.",
        "It joins the cluster formed by the coordinator (--seed) and needs root or CAP_NET_RAW.",
    ],
    Examples =
    [
        ("replaycluster-intercept --hostname 10.0.2.2 --seed 10.0.0.5:4053",
            "join the coordinator from the assistant host 10.0.2.2"),
    ],
};

return await NodeCommandLine.InvokeAsync(NodeCommandLine.Create(NodeRoles.Intercept, manual, InterceptNodeHosting.Setup), args);
