namespace ReplayCluster.Doctor;

/// <summary>Runs checks and prints one line each: status, name, what was found, and the fix.</summary>
internal static class DoctorReport
{
    /// <summary>Exit status when at least one check failed.</summary>
    public const int ProblemsExitCode = 1;

    /// <summary>Runs <paramref name="checks"/> and writes the report; returns 0, or 1 when any check failed.</summary>
    public static int Run(string title, IEnumerable<DoctorCheck> checks, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(checks);
        ArgumentNullException.ThrowIfNull(output);
        output.WriteLine($"replaycluster doctor: {title}");
        var failures = 0;
        var warnings = 0;
        foreach (var check in checks)
        {
            DoctorResult result;
            try
            {
                result = check.Run();
            }
            catch (Exception ex)
            {
                result = DoctorResult.Fail($"the check itself failed: {ex.Message}", "report this; meanwhile check by hand");
            }

            failures += result.Status == DoctorStatus.Fail ? 1 : 0;
            warnings += result.Status == DoctorStatus.Warn ? 1 : 0;
            var status = result.Status switch
            {
                DoctorStatus.Ok => "ok",
                DoctorStatus.Warn => "warn",
                _ => "FAIL",
            };
            output.WriteLine($"  {status,-5} {check.Name,-18} {result.Detail}");
            if (result.Fix is not null && result.Status != DoctorStatus.Ok)
            {
                output.WriteLine($"  {string.Empty,-5} {string.Empty,-18} fix: {result.Fix}");
            }
        }

        output.WriteLine(failures == 0
            ? $"no problems found ({warnings} warning(s))"
            : $"{failures} problem(s) found ({warnings} warning(s))");
        return failures == 0 ? 0 : ProblemsExitCode;
    }
}
