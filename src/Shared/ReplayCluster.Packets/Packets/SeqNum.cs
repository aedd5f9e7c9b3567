namespace ReplayCluster.Packets;

/// <summary>
/// TCP sequence-number arithmetic modulo 2^32 (RFC 793 section 3.3, RFC 1982 serial numbers), the way the Linux
/// kernel's <c>before()</c>/<c>after()</c> do it: the signed 32-bit difference decides the order.
/// </summary>
/// <remarks>
/// Two numbers exactly 2^31 apart are ambiguous: <see cref="Before"/> is then true in both directions (as in Linux).
/// Windows in real TCP are far smaller than 2^31, so callers never meet that case with sane inputs.
/// </remarks>
public static class SeqNum
{
    /// <summary>True when <paramref name="a"/> comes strictly before <paramref name="b"/>.</summary>
    public static bool Before(uint a, uint b) => (int)(a - b) < 0;

    /// <summary>True when <paramref name="a"/> comes before or equals <paramref name="b"/>.</summary>
    public static bool BeforeOrEqual(uint a, uint b) => (int)(a - b) <= 0;

    /// <summary>True when <paramref name="a"/> comes strictly after <paramref name="b"/>.</summary>
    public static bool After(uint a, uint b) => (int)(b - a) < 0;

    /// <summary>True when <paramref name="a"/> comes after or equals <paramref name="b"/>.</summary>
    public static bool AfterOrEqual(uint a, uint b) => (int)(b - a) <= 0;

    /// <summary>
    /// Signed distance from <paramref name="a"/> to <paramref name="b"/>, i.e. <c>b - a</c> as an int: positive when
    /// <paramref name="b"/> is after <paramref name="a"/>. <c>unchecked(a + (uint)Diff(a, b)) == b</c> always holds.
    /// </summary>
    public static int Diff(uint a, uint b) => (int)(b - a);

    /// <summary>The later of the two numbers in sequence space.</summary>
    public static uint Max(uint a, uint b) => After(b, a) ? b : a;

    /// <summary>The earlier of the two numbers in sequence space.</summary>
    public static uint Min(uint a, uint b) => Before(b, a) ? b : a;

    /// <summary>
    /// True when <paramref name="seq"/> lies in the half-open window [<paramref name="start"/>,
    /// <paramref name="start"/> + <paramref name="length"/>). A zero-length window contains nothing.
    /// </summary>
    public static bool InWindow(uint seq, uint start, uint length) => seq - start < length;
}
