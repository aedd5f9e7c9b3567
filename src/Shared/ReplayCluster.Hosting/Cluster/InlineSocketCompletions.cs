namespace ReplayCluster.Cluster;

/// <summary>
/// Has .NET run socket completions on its socket event thread instead of handing each to a thread-pool worker
/// (<c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c>, read once, when the process first uses an asynchronous socket).
/// </summary>
/// <remarks>
/// An idle node's sockets are the cluster transport's: a heartbeat, gossip or acknowledgement arriving woke the event
/// thread, then a pool worker to decrypt and decode it (and often a second worker: a worker that takes an item asks for
/// another), then the control thread that handles it. Inline, the event thread decodes the frame and hands it to the
/// control thread itself. Measured with bench/idle.sh (bench/README.md, "The control thread"): 49-62 context switches
/// a second per idle node without, 29-40 with. What runs inline is short and never blocks: the transport's read loop
/// (decrypt, frame, hand to Akka), TLS handshakes, the health endpoint's answer; Kestrel (the coordinator's HTTP API)
/// hands request processing to its own queues either way. An operator's own value of the variable is left as it is
/// (0 turns it off).
/// </remarks>
internal static class InlineSocketCompletions
{
    internal const string Variable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>Sets the variable for this process unless it is set already; before any socket is used, or it has no effect.</summary>
    /// <returns>Whether completions run inline from now on.</returns>
    public static bool Prefer() => Prefer(Environment.GetEnvironmentVariable, Environment.SetEnvironmentVariable);

    internal static bool Prefer(Func<string, string?> get, Action<string, string> set)
    {
        if (get(Variable) is null)
        {
            set(Variable, "1");
        }

        return get(Variable) == "1";
    }
}
