using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace ReplayCluster.Membership;

/// <summary>Why an inbound cluster message was refused: the suffix of its <c>messages_refused_*</c> counter.</summary>
public static class RefusalReasons
{
    /// <summary>The sender is not a current member of the cluster.</summary>
    public const string NotMember = "not_member";

    /// <summary>The sender is a member of a role that does not send this message.</summary>
    public const string WrongRole = "wrong_role";

    /// <summary>
    /// The sender is a member of the right role, but the certificate its host showed the cluster transport carries
    /// another role: a node certified for one role that joined claiming another.
    /// </summary>
    public const string NotCertified = "not_certified";

    /// <summary>A plan version at or below the one in effect, or beyond any version a coordinator reaches.</summary>
    public const string StaleVersion = "stale_version";

    /// <summary>A plan that fails validation (the coordinator's rules, checked again on receipt).</summary>
    public const string InvalidPlan = "invalid_plan";

    /// <summary>A plan this node's own rules refuse: a target not allowed here, a public fake range.</summary>
    public const string NotAllowed = "not_allowed";

    /// <summary>An identity slice that is unreadable, public, or not inside the plan's fake client range.</summary>
    public const string BadSlice = "bad_slice";

    /// <summary>Route claims whose owner is not on the sending node, or a report whose role is not its sender's.</summary>
    public const string Impersonation = "impersonation";

    /// <summary>A reply channel connection that did not prove the channel's key, or sent no hello in time.</summary>
    public const string BadHandshake = "bad_handshake";

    /// <summary>A reply channel frame with an impossible header or a MAC that does not match; the connection ends.</summary>
    public const string BadFrame = "bad_frame";

    /// <summary>A reply channel connection beyond the node's limit of open connections.</summary>
    public const string TooManyConnections = "too_many_connections";
}

/// <summary>
/// Counts the inbound cluster messages a node refused, by reason, and logs them: the first refusal of each
/// kind of message and reason and then at every power of two, so a peer that floods us cannot flood the log as
/// well, while the first refusal of every kind still shows (one count per reason hid a statistics report refused
/// after a flood of plan subscriptions). Thread-safe.
/// </summary>
public sealed partial class MessageRefusals
{
    private readonly ConcurrentDictionary<string, long> _byReason = new(StringComparer.Ordinal);

    // For the log only: refusals per reason and kind of message (its words before the first digit: "replay plan
    // version 7" and "replay plan version 9" are one kind), a small fixed set.
    private readonly ConcurrentDictionary<(string Reason, string Kind), long> _logged = new();
    private long _total;

    /// <summary>Refusals, all reasons.</summary>
    public long Total => Interlocked.Read(ref _total);

    /// <summary>Refusals by reason (<see cref="RefusalReasons"/>).</summary>
    public IReadOnlyDictionary<string, long> ByReason => _byReason;

    /// <summary>Counts a refusal of <paramref name="message"/> from <paramref name="sender"/> and logs it (rate-limited, see the class).</summary>
    public void Refuse(ILogger logger, string message, string sender, string reason, string detail)
    {
        ArgumentNullException.ThrowIfNull(logger);
        Interlocked.Increment(ref _total);
        var count = _byReason.AddOrUpdate(reason, 1, (_, n) => n + 1);
        ArgumentNullException.ThrowIfNull(message);
        var digit = message.AsSpan().IndexOfAnyInRange('0', '9');
        var ofKind = _logged.AddOrUpdate((reason, digit < 0 ? message : message[..digit]), 1, (_, n) => n + 1);
        if ((ofKind & (ofKind - 1)) == 0)
        {
            MessageRefused(logger, message, sender, reason, detail, count);
        }
    }

    [LoggerMessage(EventId = 900, Level = LogLevel.Warning,
        Message = "Refused {Message} from {Sender}: {Reason} ({Detail}); {Count} refused for this reason so far")]
    private static partial void MessageRefused(ILogger logger, string message, string sender, string reason, string detail, long count);
}
