using System.Net;
using System.Net.Sockets;
using ReplayCluster.PacketIO;
using Xunit;

namespace ReplayCluster.Tests.PacketIO;

[Collection(nameof(NetworkLabCollection))]
public sealed class NetworkNamespaceTests
{
    [Fact]
    public void Code_run_in_a_namespace_sees_its_addresses_and_the_caller_does_not()
    {
        ExternalProcess.Require(ExternalProcess.IsRoot, "root is needed for network namespaces");
        using var lab = new NamespacePair();
        Assert.True(NetworkNamespace.Exists(lab.A));
        Assert.True(NetworkNamespace.RunIn(lab.A, () => CanBind(NamespacePair.AddressA)));
        Assert.False(NetworkNamespace.RunIn(lab.B, () => CanBind(NamespacePair.AddressA)));
        Assert.False(CanBind(NamespacePair.AddressA)); // the calling thread never left the root namespace
    }

    [Fact]
    public void StartThreadIn_runs_the_body_inside_the_namespace()
    {
        ExternalProcess.Require(ExternalProcess.IsRoot, "root is needed for network namespaces");
        using var lab = new NamespacePair();
        var result = false;
        var thread = NetworkNamespace.StartThreadIn(lab.B, () => result = CanBind(NamespacePair.AddressB));
        thread.Join();
        Assert.True(result);
    }

    [Fact]
    public void Exceptions_in_the_body_reach_the_caller()
    {
        ExternalProcess.Require(ExternalProcess.IsRoot, "root is needed for network namespaces");
        using var lab = new NamespacePair();
        Assert.Throws<InvalidOperationException>(() => NetworkNamespace.RunIn(lab.A, () => throw new InvalidOperationException("inside")));
    }

    [Fact]
    public void A_missing_namespace_is_named_in_the_error()
    {
        var error = Assert.Throws<IOException>(() => NetworkNamespace.RunIn("rc-pio-missing", () => 1));
        Assert.Contains("'rc-pio-missing'", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => NetworkNamespace.RunIn("../etc", () => 1));
    }

    private static bool CanBind(IPAddress address)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
        try
        {
            socket.Bind(new IPEndPoint(address, 0));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
