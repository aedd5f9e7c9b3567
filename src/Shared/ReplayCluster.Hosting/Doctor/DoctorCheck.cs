namespace ReplayCluster.Doctor;

/// <summary>How a prerequisite check came out.</summary>
public enum DoctorStatus
{
    /// <summary>The prerequisite holds.</summary>
    Ok,

    /// <summary>Works, but worth knowing (e.g. offloads on: super-segments are split, checksums unverifiable).</summary>
    Warn,

    /// <summary>Replay will not work until this is fixed.</summary>
    Fail,
}

/// <summary>The outcome of one check: what was found, and for a problem, how to fix it.</summary>
public sealed record DoctorResult(DoctorStatus Status, string Detail, string? Fix = null)
{
    public static DoctorResult Ok(string detail) => new(DoctorStatus.Ok, detail);

    public static DoctorResult Warn(string detail, string? fix = null) => new(DoctorStatus.Warn, detail, fix);

    public static DoctorResult Fail(string detail, string fix) => new(DoctorStatus.Fail, detail, fix);
}

/// <summary>One named prerequisite of a host.</summary>
/// <param name="Name">Short stable name, e.g. "rp_filter" (tests and scripts match on it).</param>
/// <param name="Run">Performs the check; must not throw for an ordinary "no".</param>
public sealed record DoctorCheck(string Name, Func<DoctorResult> Run);
