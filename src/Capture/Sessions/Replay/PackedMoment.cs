namespace ReplayCluster.Capture.Sessions;

/// <summary>
/// An optional UTC moment in a <see cref="long"/>: 0 is none, otherwise UTC ticks + 1. A session's parts keep their
/// deadlines so: a <see cref="DateTimeOffset"/>? takes 24 bytes, and there is one set of them per live session.
/// Moments come from <see cref="TimeProvider.GetUtcNow"/>, offset zero, so nothing is lost.
/// </summary>
internal static class PackedMoment
{
    public static long Pack(DateTimeOffset? moment) => moment is { } m ? m.UtcTicks + 1 : 0;

    public static DateTimeOffset? Unpack(long packed) => packed == 0 ? null : new DateTimeOffset(packed - 1, TimeSpan.Zero);
}
