using ReplayCluster.Capture;
using ReplayCluster.CommandLine;
using ReplayCluster.Configuration;

var manual = new NodeManual
{
    Name = "replaycluster-capture",
    Summary = "copy live TCP sessions of an online host to a target host",
    Description =
    [
        "A capture node runs on an online (production) host. It captures the client-to-server packets " +
        "of the online service with libpcap and replays every TCP session toward the target host " +
        "through a raw IP socket, driven by the response acknowledgements that intercept nodes publish.",
        "It joins the cluster formed by the coordinator (--seed) and needs root or CAP_NET_RAW and " +
        "CAP_NET_ADMIN.",
    ],
    Examples =
    [
        ("replaycluster-capture --hostname 10.0.0.11 --seed 10.0.0.5:4053",
            "join the coordinator at 10.0.0.5:4053 from the online host 10.0.0.11"),
        ("REPLAYCLUSTER_SEEDS=10.0.0.5:4053 replaycluster-capture --hostname 10.0.0.11",
            "the same, with the seed from the environment"),
    ],
};

return await NodeCommandLine.InvokeAsync(NodeCommandLine.Create(NodeRoles.Capture, manual, CaptureNodeHosting.Setup), args);
