namespace ReplayCluster.Capture.Identities;

/// <summary>
/// How client identities (the address and port a replayed session uses at the target) are reused
/// (<c>replaycluster.capture.identity</c>).
/// </summary>
internal sealed record ClientIdentityOptions
{
    /// <summary>
    /// How long a released identity is held back before it is handed out again. Defaults to 65 s:
    /// Linux keeps a connection the target closed first (nginx with <c>Connection: close</c>) in
    /// TIME_WAIT for a fixed 60 s, and answers a SYN that its PAWS or sequence check rejects with a
    /// bare ACK, so a session handed that 4-tuple sooner never gets its handshake. Zero turns the
    /// quarantine off.
    /// </summary>
    public TimeSpan ReuseDelay { get; init; } = TimeSpan.FromSeconds(65);

    /// <summary>
    /// Released identities held back at most at once. Defaults to 1,048,576 (about 64 MiB; 65 s of
    /// 16k new sessions/s). Beyond it the identity released longest ago is let go early and counted
    /// (<see cref="ClientIdentityMapper.QuarantineOverflows"/>). Zero turns the quarantine off.
    /// </summary>
    public int QuarantineCapacity { get; init; } = 1 << 20;

    /// <summary>Whether released identities are held back at all.</summary>
    public bool Quarantines => ReuseDelay > TimeSpan.Zero && QuarantineCapacity > 0;
}
