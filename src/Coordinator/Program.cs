using ReplayCluster.CommandLine;
using ReplayCluster.Coordinator;
using ReplayCluster.Configuration;

var manual = new NodeManual
{
    Name = "replaycluster-coordinator",
    Summary = "control plane of a ReplayCluster: seed node, replay plan, statistics",
    Description =
    [
        "The coordinator is the node that capture and intercept nodes join. It forms the cluster (it " +
        "is its first seed), holds the replay plan, keeps the client identities of all capture nodes " +
        "collision-free and aggregates their statistics.",
        "Start it first, on a host every other node can reach, with a fixed --port (default 4053).",
    ],
    Examples =
    [
        ("replaycluster-coordinator --hostname 10.0.0.5", "form a cluster on 10.0.0.5:4053"),
        ("replaycluster-coordinator --hostname 0.0.0.0 --public-hostname coord.lab --port 5000",
            "bind every interface, advertise coord.lab:5000"),
        ("replaycluster-coordinator --print-config", "show the effective configuration and exit"),
        ("replaycluster-coordinator certs init --dir /etc/replaycluster/tls", "create the cluster CA for mutual TLS between the nodes"),
        ("replaycluster-coordinator certs issue --role capture --name online-1", "a certificate for one capture node, signed by that CA"),
        ("replaycluster-coordinator status", "the nodes' counters, rates and the loss ratio, from the running coordinator"),
        ("replaycluster-coordinator run start ... replaycluster-coordinator run stop", "a run; stop prints its report (also: report)"),
    ],
};

var root = NodeCommandLine.Create(NodeRoles.Coordinator, manual, CoordinatorNodeHosting.Setup);
foreach (var command in ReplayCluster.Coordinator.Client.ClientCommands.Create())
{
    root.Add(command);
}

if (!OperatingSystem.IsWindows())
{
    root.Add(ReplayCluster.Coordinator.Certificates.CertificateCommands.Create());
}

return await NodeCommandLine.InvokeAsync(root, args);
