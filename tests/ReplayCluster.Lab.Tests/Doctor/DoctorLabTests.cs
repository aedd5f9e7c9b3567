using ReplayCluster.Lab.Tests.Lab;
using ReplayCluster.Lab.Tests.Nodes;
using LabHost = ReplayCluster.Lab.Tests.Lab.Lab;

namespace ReplayCluster.Lab.Tests.Doctor;

/// <summary>
/// A lab of its own with a coordinator running: the doctor tests break its setup on purpose. Dual stack, so that each
/// host is also checked for what its IPv6 replies and fake IPv6 clients need.
/// </summary>
public sealed class DoctorLabFixture : IAsyncLifetime
{
    private LabHost? _lab;
    private LabProcess? _coordinator;

    public LabHost Lab => _lab ?? throw new InvalidOperationException("The doctor lab is not initialized.");

    public async ValueTask InitializeAsync()
    {
        _lab = await LabHost.StartAsync(new LabOptions { Ipv6 = true }, TestContext.Current.CancellationToken);
        _coordinator = (await new ReplayLab(_lab).StartCoordinatorAsync()).Process;
    }

    public async ValueTask DisposeAsync()
    {
        if (_coordinator is not null)
        {
            await _coordinator.StopAsync();
        }

        if (_lab is not null)
        {
            await _lab.DisposeAsync();
        }
    }
}

/// <summary>`doctor` on each host of a correct lab finds nothing; each prerequisite broken in turn is named.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class DoctorLabTests(DoctorLabFixture fixture) : IClassFixture<DoctorLabFixture>
{
    private LabHost Lab => fixture.Lab;

    private LabFacts.Ipv6Facts Ipv6 => Lab.Ipv6 ?? throw new InvalidOperationException("The doctor lab is dual stack.");

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_correct_lab_passes_on_every_host()
    {
        foreach (var (exit, output) in new[] { await CaptureDoctorAsync(), await InterceptDoctorAsync(), await TargetDoctorAsync() })
        {
            Assert.True(exit == 0, output);
            Assert.Contains("no problems found", output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Forwarding_on_the_reply_sink_is_named() =>
        await WithBrokenAsync(LabRole.Assistant, ["sysctl", "-qw", "net.ipv4.ip_forward=1"], ["sysctl", "-qw", "net.ipv4.ip_forward=0"],
            InterceptDoctorAsync, "ip_forward");

    [Fact]
    public async Task Forwarding_on_the_sink_interface_alone_is_named() =>
        await WithBrokenAsync(LabRole.Assistant, ["sysctl", "-qw", $"net.ipv4.conf.{Lab.SinkInterface}.forwarding=1"],
            ["sysctl", "-qw", $"net.ipv4.conf.{Lab.SinkInterface}.forwarding=0"], InterceptDoctorAsync, "ip_forward");

    [Fact]
    public async Task Ipv6_forwarding_on_the_reply_sink_is_named() =>
        await WithBrokenAsync(LabRole.Assistant, ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"], ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=0"],
            InterceptDoctorAsync, "ipv6 forwarding");

    [Fact]
    public async Task A_missing_route_for_the_ipv6_client_range_on_the_target_is_named() =>
        await WithBrokenAsync(LabRole.Target, ["ip", "-6", "route", "del", Ipv6.FakeRange],
            ["ip", "-6", "route", "add", Ipv6.FakeRange, "via", Ipv6.AssistantIp.ToString()], TargetDoctorAsync, "client route");

    [Fact]
    public async Task An_ipv6_reverse_path_rule_on_the_target_is_a_warning_that_names_it()
    {
        // firewalld's IPv6_rpfilter as nftables writes it: replayed packets from the fake range come in from the
        // online host and are routed back toward the sink, so such a rule drops them.
        var table = $"rpf{Guid.NewGuid():N}"[..12];
        var file = Path.Combine(Lab.StateDirectory, $"{table}.nft");
        await File.WriteAllTextAsync(file,
            $"table inet {table} {{\n  chain pre {{\n    type filter hook prerouting priority raw;\n    meta nfproto ipv6 fib saddr . iif oif missing drop\n  }}\n}}\n", Cancellation);
        (await Lab.ExecAsync(LabRole.Target, ["nft", "-f", file], cancellationToken: Cancellation)).EnsureSuccess("nft -f");
        try
        {
            var (exit, output) = await TargetDoctorAsync();
            Assert.True(exit == 0, output);
            Assert.Matches(@"warn\s+ipv6 rpfilter\s.*fib saddr \. iif oif missing drop", output);
        }
        finally
        {
            (await Lab.ExecAsync(LabRole.Target, ["nft", "delete", "table", "inet", table], cancellationToken: Cancellation)).EnsureSuccess("nft delete table");
        }

        Assert.Contains("no problems found", (await TargetDoctorAsync()).Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Strict_reverse_path_filtering_on_the_target_is_named() =>
        await WithBrokenAsync(LabRole.Target, ["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1"], ["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0"],
            TargetDoctorAsync, "rp_filter");

    [Fact]
    public async Task A_missing_route_for_the_client_range_on_the_target_is_named() =>
        await WithBrokenAsync(LabRole.Target, ["ip", "route", "del", Lab.FakeRange], ["ip", "route", "add", Lab.FakeRange, "via", Lab.AssistantIp.ToString()],
            TargetDoctorAsync, "client route");

    [Fact]
    public async Task A_route_for_the_first_slice_only_is_named()
    {
        // The check of one probe address per range passed this: only 10.200.0.0/24 reaches the sink.
        var firstSlice = Lab.FakeRange[..Lab.FakeRange.IndexOf('/', StringComparison.Ordinal)] + "/24";
        (await Lab.ExecAsync(LabRole.Target, ["ip", "route", "add", firstSlice, "via", Lab.AssistantIp.ToString()], cancellationToken: Cancellation)).EnsureSuccess("add");
        try
        {
            await WithBrokenAsync(LabRole.Target, ["ip", "route", "del", Lab.FakeRange], ["ip", "route", "add", Lab.FakeRange, "via", Lab.AssistantIp.ToString()],
                TargetDoctorAsync, "client route");
        }
        finally
        {
            await Lab.ExecAsync(LabRole.Target, ["ip", "route", "del", firstSlice], cancellationToken: Cancellation);
        }
    }

    [Fact]
    public async Task Replayed_flows_that_conntrack_would_keep_are_named_unless_a_notrack_rule_exempts_them()
    {
        // The node may not install its own exemption: the host's conntrack must not keep the replayed flows.
        var (exit, output) = await CaptureDoctorAsync("--set", "replaycluster.capture.notrack = off");
        AssertFailed((exit, output), "conntrack");
        Assert.Contains($"ip saddr {Lab.FakeRange} notrack", output, StringComparison.Ordinal);
        Assert.Contains($"ip6 saddr {Ipv6.FakeRange} notrack", output, StringComparison.Ordinal);

        // The operator's own rules (the ones doctor proposes) are recognised; one family's alone is not enough.
        var table = $"ops{Guid.NewGuid():N}"[..12];
        var script = Path.Combine(Lab.StateDirectory, $"{table}.nft");
        await File.WriteAllTextAsync(script,
            $"table ip {table} {{\n  chain out {{\n    type filter hook output priority raw;\n    ip saddr {Lab.FakeRange} notrack\n  }}\n}}\n", Cancellation);
        (await Lab.ExecAsync(LabRole.Online, ["nft", "-f", script], cancellationToken: Cancellation)).EnsureSuccess("nft -f");
        try
        {
            (exit, output) = await CaptureDoctorAsync("--set", "replaycluster.capture.notrack = off");
            AssertFailed((exit, output), "conntrack");

            await File.WriteAllTextAsync(script,
                $"table ip6 {table} {{\n  chain out {{\n    type filter hook output priority raw;\n    ip6 saddr {Ipv6.FakeRange} notrack\n  }}\n}}\n", Cancellation);
            (await Lab.ExecAsync(LabRole.Online, ["nft", "-f", script], cancellationToken: Cancellation)).EnsureSuccess("nft -f");
            (exit, output) = await CaptureDoctorAsync("--set", "replaycluster.capture.notrack = off");
            Assert.True(exit == 0, output);
            Assert.Matches(@"ok\s+conntrack\s+.*exempt \(notrack\)", output);
        }
        finally
        {
            await Lab.ExecAsync(LabRole.Online, ["nft", "delete", "table", "ip", table], cancellationToken: Cancellation);
            await Lab.ExecAsync(LabRole.Online, ["nft", "delete", "table", "ip6", table], cancellationToken: Cancellation);
        }

        // By default a privileged node installs it itself.
        (exit, output) = await CaptureDoctorAsync();
        Assert.True(exit == 0, output);
        Assert.Matches(@"ok\s+conntrack\s+.*the node installs notrack", output);
    }

    [Fact]
    public async Task A_capture_interface_that_is_down_or_missing_is_named()
    {
        await WithBrokenAsync(LabRole.Online, ["ip", "link", "set", Lab.OnlineInterface, "down"], ["ip", "link", "set", Lab.OnlineInterface, "up"],
            () => CaptureDoctorAsync(), "interface");
        AssertFailed(await CaptureDoctorAsync("-i", "nosuch0"), "interface");
    }

    [Fact]
    public async Task An_unreachable_target_and_an_unreachable_cluster_are_named()
    {
        AssertFailed(await CaptureDoctorAsync("-x", "80-10.99.0.1:80"), "route to target");
        AssertFailed(await CaptureDoctorAsync("--seed", $"{Lab.TargetIp}:4999"), "cluster");
    }

    [Fact]
    public async Task Receive_offloads_are_a_warning_not_a_failure()
    {
        try
        {
            (await Lab.ExecAsync(LabRole.Online, ["ethtool", "-K", Lab.OnlineInterface, "gro", "on"], cancellationToken: Cancellation)).EnsureSuccess("ethtool");
            var (exit, output) = await CaptureDoctorAsync();
            Assert.True(exit == 0, output);
            Assert.Matches(@"warn\s+offloads\s+generic-receive-offload", output);
        }
        finally
        {
            await Lab.ExecAsync(LabRole.Online, ["ethtool", "-K", Lab.OnlineInterface, "gro", "off"], cancellationToken: Cancellation);
        }
    }

    [Fact]
    public async Task Missing_privileges_are_named()
    {
        // The unprivileged user must reach the node's binary: the checkout may sit under a directory only root may
        // enter (a 0700 home or temporary directory), so it runs a copy of the build output in a folder of the lab's
        // own (0755 up to /), not the build output itself.
        var copy = WorldReadableCopy(Path.GetDirectoryName(NodeProcesses.LocateBinary("capture"))!);
        try
        {
            var result = await Lab.ExecAsync(LabRole.Online,
                ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--", "env", "HOME=/tmp", "DOTNET_CLI_HOME=/tmp",
                 "dotnet", Path.Combine(copy, "replaycluster-capture.dll"), "doctor", .. NodeProcesses.ClusterTlsArguments("capture", ownerUid: 65534),
                 .. CaptureArguments()],
                TimeSpan.FromSeconds(60), Cancellation);
            AssertFailed((result.ExitCode, result.StdOut + result.StdErr), "privileges");
        }
        finally
        {
            Directory.Delete(copy, recursive: true);
        }
    }

    /// <summary>
    /// Copies <paramref name="buildOutput"/> into a new folder of the lab's state directory that every user may read
    /// and enter, and checks that each folder above it may be entered by others (else the copy would not help).
    /// </summary>
    private string WorldReadableCopy(string buildOutput)
    {
        const UnixFileMode Enter = UnixFileMode.OtherExecute;
        const UnixFileMode Open = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead
            | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;
        var copy = Path.Combine(Lab.StateDirectory, $"capture-bin-{Guid.NewGuid():N}");
        Directory.CreateDirectory(copy, Open);
        for (var parent = Directory.GetParent(copy); parent is not null; parent = parent.Parent)
        {
            Assert.True((parent.UnixFileMode & Enter) != 0,
                $"{parent.FullName} ({parent.UnixFileMode}) may not be entered by others: set LAB_STATE_DIR to a folder that may (tests/run.sh does).");
        }

        foreach (var directory in Directory.GetDirectories(buildOutput, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(Path.Combine(copy, Path.GetRelativePath(buildOutput, directory)), Open);
        }

        foreach (var file in Directory.GetFiles(buildOutput, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(copy, Path.GetRelativePath(buildOutput, file));
            File.Copy(file, target);
            File.SetUnixFileMode(target, File.GetUnixFileMode(target) | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        }

        return copy;
    }

    [Fact]
    public async Task A_missing_libpcap_is_named()
    {
        var library = (await Lab.ExecAsync(LabRole.Online, ["readlink", "-f", "/usr/lib/x86_64-linux-gnu/libpcap.so.0.8"], cancellationToken: Cancellation)).StdOut.Trim();
        Assert.True(File.Exists(library), $"libpcap not found at {library}");
        var dll = NodeProcesses.LocateBinary("capture");

        // In a private mount namespace only this process sees libpcap replaced by an empty file.
        var script = $"mount --bind /dev/null {library} && exec dotnet {dll} doctor {string.Join(' ', [.. NodeProcesses.ClusterTlsArguments("capture"), .. CaptureArguments()])}";
        var result = await Lab.ExecAsync(LabRole.Online, ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
            TimeSpan.FromSeconds(60), Cancellation);
        AssertFailed((result.ExitCode, result.StdOut + result.StdErr), "libpcap");
    }

    [Fact]
    public async Task A_bad_configuration_value_is_a_configuration_error()
    {
        var (exit, output) = await CaptureDoctorAsync("--port", "http");
        Assert.Equal(2, exit);
        Assert.Contains("replaycluster.node.port", output, StringComparison.Ordinal);
    }

    /// <summary>A correct capture node's arguments, with any option in <paramref name="overrides"/> (pairs) replacing its default.</summary>
    private string[] CaptureArguments(params string[] overrides)
    {
        var options = new Dictionary<string, string>
        {
            ["--hostname"] = Lab.OnlineUplinkIp.ToString(),
            ["--seed"] = $"{Lab.TargetIp}:4053",
            ["-i"] = Lab.OnlineInterface,
            ["-x"] = $"80-{Lab.TargetIp}:80",
            ["-c"] = $"{Lab.FakeRange},{Ipv6.FakeRange}",
        };
        for (var i = 0; i + 1 < overrides.Length; i += 2)
        {
            options[overrides[i]] = overrides[i + 1];
        }

        return [.. options.SelectMany(o => new[] { o.Key, o.Value })];
    }

    private Task<(int Exit, string Output)> CaptureDoctorAsync(params string[] overrides) =>
        DoctorAsync(LabRole.Online, "capture", CaptureArguments(overrides));

    private Task<(int Exit, string Output)> InterceptDoctorAsync() =>
        DoctorAsync(LabRole.Assistant, "intercept", ["--hostname", Lab.AssistantIp.ToString(), "--seed", $"{Lab.TargetIp}:4053", "-i", Lab.SinkInterface]);

    private Task<(int Exit, string Output)> TargetDoctorAsync() =>
        DoctorAsync(LabRole.Target, "coordinator", ["--host", "target", "--client-range", $"{Lab.FakeRange},{Ipv6.FakeRange}"]);

    private async Task<(int Exit, string Output)> DoctorAsync(LabRole role, string node, string[] arguments)
    {
        var result = await Lab.ExecAsync(role, [.. NodeProcesses.Dotnet, NodeProcesses.LocateBinary(node), "doctor", .. NodeProcesses.ClusterTlsArguments(node), .. arguments],
            TimeSpan.FromSeconds(60), Cancellation);
        var output = result.StdOut + result.StdErr;
        TestContext.Current.TestOutputHelper?.WriteLine(output);
        return (result.ExitCode, output);
    }

    private async Task WithBrokenAsync(LabRole role, string[] breakIt, string[] restore, Func<Task<(int Exit, string Output)>> doctor, string check)
    {
        (await Lab.ExecAsync(role, breakIt, cancellationToken: Cancellation)).EnsureSuccess(string.Join(' ', breakIt));
        try
        {
            AssertFailed(await doctor(), check);
        }
        finally
        {
            (await Lab.ExecAsync(role, restore, cancellationToken: Cancellation)).EnsureSuccess(string.Join(' ', restore));
        }

        var (exit, output) = await doctor();
        Assert.True(exit == 0, $"still failing after the fix:{Environment.NewLine}{output}");
    }

    private static void AssertFailed((int Exit, string Output) result, string check)
    {
        Assert.True(result.Exit == 1, $"expected exit 1, got {result.Exit}:{Environment.NewLine}{result.Output}");
        Assert.Matches($@"FAIL\s+{System.Text.RegularExpressions.Regex.Escape(check)}\s", result.Output);
        Assert.Contains("fix:", result.Output, StringComparison.Ordinal);
    }
}
