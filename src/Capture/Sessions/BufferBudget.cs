namespace ReplayCluster.Capture.Sessions;

/// <summary>
/// The node-wide account of captured bytes held for the target, shared by every session (they run on
/// different threads). It bounds the node's memory: while it is exhausted the manager refuses new
/// sessions, and the sessions already running finish within their own cap.
/// </summary>
internal sealed class BufferBudget(long limit)
{
    private long _used;

    /// <summary>Bytes the node may hold before refusing new sessions.</summary>
    public long Limit { get; } = limit;

    /// <summary>Bytes held now.</summary>
    public long Used => Interlocked.Read(ref _used);

    public bool Exhausted => Used >= Limit;

    public void Take(long bytes) => Interlocked.Add(ref _used, bytes);

    public void Give(long bytes) => Interlocked.Add(ref _used, -bytes);
}
