namespace ReplayCluster.Capture.Sessions;

/// <summary>Why a replayed session ended. Every reason is a named counter in the node's statistics.</summary>
internal enum SessionEndReason
{
    /// <summary>Still running.</summary>
    None = 0,

    /// <summary>Both sides closed and everything was acknowledged.</summary>
    Completed,

    /// <summary>The client reset the connection after everything was delivered.</summary>
    ClientReset,

    /// <summary>The target answered the SYN with a reset (nothing listens on the target port).</summary>
    TargetRefused,

    /// <summary>The SYN was retransmitted the maximum number of times without a SYN-ACK.</summary>
    SynTimeout,

    /// <summary>Data was retransmitted the maximum number of times without being acknowledged.</summary>
    RetransmitLimit,

    /// <summary>Nothing was captured or answered for the idle timeout while data was pending.</summary>
    IdleTimeout,

    /// <summary>A keep-alive connection with nothing pending stayed silent for the keep-alive timeout.</summary>
    KeepAliveTimeout,

    /// <summary>The session buffered more captured bytes than its cap.</summary>
    BufferOverflow,

    /// <summary>The node is shutting down or the session was stopped from outside.</summary>
    Aborted,

    /// <summary>The client never sent a byte after its handshake within the no-data timeout (e.g. a spoofed SYN).</summary>
    NoDataTimeout,

    /// <summary>
    /// The target reset the connection before acknowledging the pending bytes, again on each new
    /// connection, <see cref="ReplaySession.MaxResetsWithoutProgress"/> times in a row.
    /// </summary>
    TargetReset,
}
