namespace ReplayCluster.Comparison;

/// <summary>
/// FNV-1a, 64 bits: a body's fingerprint. Deterministic across processes and nodes (unlike <see cref="HashCode"/>),
/// incremental, allocation-free; collisions only hide a difference with odds of 2^-64 per pair, which is what a
/// comparison by hash accepts anyway.
/// </summary>
internal static class Fnv64
{
    public const ulong Empty = 14695981039346656037UL;
    private const ulong Prime = 1099511628211UL;

    public static ulong Append(ulong hash, ReadOnlySpan<byte> data)
    {
        foreach (var b in data)
        {
            hash = (hash ^ b) * Prime;
        }

        return hash;
    }

    public static ulong Append(ulong hash, string text)
    {
        foreach (var c in text)
        {
            hash = (hash ^ (byte)c) * Prime;
            hash = (hash ^ (byte)(c >> 8)) * Prime;
        }

        return hash;
    }

    public static string Format(ulong hash) => hash.ToString("x16", System.Globalization.CultureInfo.InvariantCulture);
}
