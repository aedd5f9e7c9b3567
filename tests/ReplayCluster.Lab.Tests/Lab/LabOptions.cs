namespace ReplayCluster.Lab.Tests.Lab;

/// <summary>Where the target's replies to clients and to the fake range end up.</summary>
public enum LabSink
{
    /// <summary>Routed to the assistant namespace, which does not forward them (the default).</summary>
    Assistant,

    /// <summary>Routed into an ifb device <c>sink0</c> inside the target namespace, which drops them.</summary>
    Ifb,
}

/// <summary>A host of the lab; each one is a network namespace.</summary>
public enum LabRole
{
    /// <summary>The real client (<c>rc-ID-client</c>): talks to the online nginx.</summary>
    Client,

    /// <summary>The first online host (<c>rc-ID-online</c>): serves clients; capture nodes run here.</summary>
    Online,

    /// <summary>The target (<c>rc-ID-target</c>): receives replayed traffic.</summary>
    Target,

    /// <summary>The assistant (<c>rc-ID-assist</c>): swallows the target's replies; intercept nodes run here.</summary>
    Assistant,
}

/// <summary>How to build a lab. Every property maps to a <c>deploy/lab/lab.sh up</c> option.</summary>
public sealed record LabOptions
{
    /// <summary>
    /// Keep the veth offloads (TSO/GSO/GRO, tx checksum) on. Defaults to <c>false</c>: offloads off, so
    /// captured frames are at most one MSS long and carry valid TCP checksums.
    /// </summary>
    public bool Offloads { get; init; }

    /// <summary>Where replies go. Defaults to <see cref="LabSink.Assistant"/>.</summary>
    public LabSink Sink { get; init; } = LabSink.Assistant;

    /// <summary>The client range a replayer spoofs, in CIDR form. Defaults to <c>10.200.0.0/16</c>.</summary>
    public string FakeRange { get; init; } = "10.200.0.0/16";

    /// <summary>Number of online hosts, 1-9. Defaults to 1.</summary>
    public int Onlines { get; init; } = 1;

    /// <summary>
    /// Dual stack (<c>--ipv6</c>): IPv6 on every link too, the target routing the fake IPv6 range and the clients' /64s
    /// to the sink, nginx on the IPv6 addresses as well; the addresses are in <see cref="Lab.Ipv6"/>. Defaults to
    /// <c>false</c>: IPv6 off in every namespace.
    /// </summary>
    public bool Ipv6 { get; init; }

    /// <summary>Port of the target nginx. Defaults to 80.</summary>
    public int TargetPort { get; init; } = 80;

    /// <summary>Lab id (1-8 of [a-z0-9]). Defaults to <c>null</c>: 6 random hex digits.</summary>
    public string? Id { get; init; }

    /// <summary>How long <c>lab.sh up</c> may take. Defaults to 30 s.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Testing the cleanup path only: make <c>lab.sh up</c> fail after this step
    /// (<c>namespaces</c>, <c>links</c>, <c>routes</c>, <c>nginx</c>). Defaults to <c>null</c>.
    /// </summary>
    public string? InjectFailureAfter { get; init; }
}
