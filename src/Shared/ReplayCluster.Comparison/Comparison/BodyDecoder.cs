using System.IO.Compression;

namespace ReplayCluster.Comparison;

/// <summary>
/// Decodes a response body's content coding (gzip, deflate, br) with a hard bound on the decoded size: decoding stops
/// one byte past the bound, so a zip bomb costs the bound, never what it would expand to.
/// </summary>
internal static class BodyDecoder
{
    public enum Outcome
    {
        Decoded,
        NotEncoded,
        UnknownCoding,
        TooLarge,
        Undecodable,
    }

    public static Outcome Decode(string? contentEncoding, ReadOnlySpan<byte> encoded, int maxDecodedBytes, out byte[] decoded, out int decodedLength)
    {
        decoded = [];
        decodedLength = 0;
        var coding = contentEncoding?.Trim();
        if (string.IsNullOrEmpty(coding) || coding.Equals("identity", StringComparison.OrdinalIgnoreCase))
        {
            return Outcome.NotEncoded;
        }

        // Stacked codings ("gzip, br") are legal but rare enough that a hash comparison is the honest answer.
        var kind = coding.ToLowerInvariant() switch
        {
            "gzip" or "x-gzip" => 1,
            "deflate" => 2,
            "br" => 3,
            _ => 0,
        };
        if (kind == 0)
        {
            return Outcome.UnknownCoding;
        }

        try
        {
            using var input = new MemoryStream(encoded.ToArray(), writable: false);
            using Stream stream = kind switch
            {
                1 => new GZipStream(input, CompressionMode.Decompress),
                // "deflate" means zlib (RFC 9110 8.4.1.2), but servers have sent raw deflate for decades.
                2 => LooksLikeZlib(encoded) ? new ZLibStream(input, CompressionMode.Decompress) : new DeflateStream(input, CompressionMode.Decompress),
                _ => new BrotliStream(input, CompressionMode.Decompress),
            };
            var buffer = new byte[Math.Min(maxDecodedBytes + 1, Math.Max(4096, encoded.Length * 4))];
            var length = 0;
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (buffer.Length > maxDecodedBytes)
                    {
                        return Outcome.TooLarge;
                    }

                    Array.Resize(ref buffer, (int)Math.Min((long)maxDecodedBytes + 1, buffer.Length * 2L));
                }

                var read = stream.Read(buffer, length, buffer.Length - length);
                if (read == 0)
                {
                    break;
                }

                length += read;
            }

            if (length > maxDecodedBytes)
            {
                return Outcome.TooLarge;
            }

            // The buffer grew by doubling; a body that stays pending or remembered keeps only what it needs.
            decoded = buffer.Length - length > 4096 ? buffer.AsSpan(0, length).ToArray() : buffer;
            decodedLength = length;
            return Outcome.Decoded;
        }
        catch (InvalidDataException)
        {
            return Outcome.Undecodable;
        }
        catch (IOException)
        {
            return Outcome.Undecodable;
        }
    }

    private static bool LooksLikeZlib(ReadOnlySpan<byte> data) =>
        data.Length >= 2 && (data[0] & 0x0F) == 8 && ((data[0] << 8) | data[1]) % 31 == 0;
}
