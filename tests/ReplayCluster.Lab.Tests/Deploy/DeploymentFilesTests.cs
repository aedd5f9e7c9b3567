using System.Text.RegularExpressions;
using ReplayCluster.Lab.Tests.Lab;
using YamlDotNet.RepresentationModel;

namespace ReplayCluster.Lab.Tests.Deploy;

/// <summary>
/// The deployment files are checked as far as this machine allows (no container engine, no cluster):
/// they parse, what they reference exists, the binaries they copy are what publish.sh produces, and the
/// systemd units pass systemd's own verifier against an installed tree.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
[Collection(PublishCollection.Name)]
public sealed partial class DeploymentFilesTests(PublishFixture publish)
{
    private static readonly string[] Nodes = ["coordinator", "capture", "intercept"];

    private string Deploy => Path.Combine(publish.Repository, "deploy");

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public void Publishing_gives_one_self_contained_executable_per_node_with_its_reference_hocon()
    {
        foreach (var node in Nodes)
        {
            Assert.True(File.Exists(publish.Binary(node)), publish.Binary(node));
            Assert.True(File.Exists(Path.Combine(publish.Output, node, "hocon", "common.hocon")));
            Assert.True(File.Exists(Path.Combine(publish.Output, node, "hocon", $"{node}.hocon")));
            Assert.False(File.Exists(Path.Combine(publish.Output, node, $"replaycluster-{node}.dll")), "not single-file");
        }
    }

    [Fact]
    public async Task Capture_and_intercept_binaries_carry_exactly_the_two_capabilities()
    {
        foreach (var node in new[] { "capture", "intercept" })
        {
            var result = await CommandRunner.RunAsync("getcap", [publish.Binary(node)], TimeSpan.FromSeconds(10), cancellationToken: Cancellation);
            Assert.Matches("cap_net_admin,cap_net_raw=ep", result.StdOut);
        }
    }

    [Fact]
    public async Task The_example_etc_configurations_are_valid_for_their_nodes()
    {
        var tls = await TlsFilesAsync();
        foreach (var node in Nodes)
        {
            var example = Path.Combine(Deploy, "etc", $"{node}.hocon");
            Assert.Contains("replaycluster.cluster.tls", File.ReadAllText(example), StringComparison.Ordinal);
            Assert.DoesNotContain("hostname = \"0.0.0.0\"", File.ReadAllText(example), StringComparison.Ordinal); // a concrete bind address
            // The example's certificate paths are on the production host; here they point at certificates made for the test.
            var result = await CommandRunner.RunAsync(publish.Binary(node), ["--config", example, .. tls(node), "--print-config"],
                TimeSpan.FromSeconds(30), new Dictionary<string, string> { ["PATH"] = "/nonexistent" }, Cancellation);
            Assert.True(result.ExitCode == 0, $"{node}: {result.StdOut}{result.StdErr}");
            Assert.Contains("replaycluster", result.StdOut, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task The_systemd_units_verify_against_an_installed_tree()
    {
        var root = Directory.CreateTempSubdirectory("replaycluster-root-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(root, "lib", "systemd"));
            Directory.CreateDirectory(Path.Combine(root, "etc", "systemd", "system"));
            Directory.CreateDirectory(Path.Combine(root, "opt", "replaycluster"));
            await CopyAsync("/lib/systemd/system", Path.Combine(root, "lib", "systemd"));
            foreach (var node in Nodes)
            {
                var unit = Path.Combine(Deploy, "systemd", $"replaycluster-{node}.service");
                Assert.Matches($"ExecStart=/opt/replaycluster/{node}/replaycluster-{node} --config /etc/replaycluster/{node}.hocon", File.ReadAllText(unit));
                File.Copy(unit, Path.Combine(root, "etc", "systemd", "system", Path.GetFileName(unit)));
                await CopyAsync(Path.Combine(publish.Output, node), Path.Combine(root, "opt", "replaycluster"));
            }

            var result = await CommandRunner.RunAsync("systemd-analyze",
                ["verify", $"--root={root}", "--man=no", .. Nodes.Select(n => $"replaycluster-{n}.service")], TimeSpan.FromSeconds(60), cancellationToken: Cancellation);
            Assert.True(result.ExitCode == 0 && (result.StdOut + result.StdErr).Trim().Length == 0, $"systemd-analyze verify:{Environment.NewLine}{result.StdOut}{result.StdErr}");
            Assert.Contains("AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN", File.ReadAllText(Path.Combine(Deploy, "systemd", "replaycluster-capture.service")), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void Every_dockerfile_copies_what_publish_produces_and_runs_that_binary()
    {
        foreach (var node in Nodes)
        {
            var dockerfile = File.ReadAllText(Path.Combine(Deploy, "docker", $"Dockerfile.{node}"));
            var copy = CopyInstruction().Match(dockerfile);
            Assert.True(copy.Success, $"Dockerfile.{node} has no COPY of the published node");
            Assert.Equal($"artifacts/publish/{node}/", copy.Groups["source"].Value);
            var entry = EntrypointInstruction().Match(dockerfile).Groups["path"].Value;
            Assert.Equal($"{copy.Groups["target"].Value}replaycluster-{node}", entry);
            Assert.True(File.Exists(Path.Combine(publish.Output, node, Path.GetFileName(entry))), $"{entry} is not what publish.sh produces");
            Assert.Equal(node != "coordinator", dockerfile.Contains("libpcap0.8", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void The_compose_file_references_files_that_exist_and_grants_capture_capabilities()
    {
        var compose = Load(Path.Combine(Deploy, "docker", "compose.yaml")).Single();
        var services = (YamlMappingNode)compose["services"];
        Assert.Equal(Nodes.Order(), services.Children.Keys.Select(k => k.ToString()).Order());
        foreach (var (name, value) in services.Children)
        {
            var service = (YamlMappingNode)value;
            var build = (YamlMappingNode)service["build"];
            var context = Path.GetFullPath(Path.Combine(Deploy, "docker", build["context"].ToString()));
            Assert.Equal(publish.Repository.TrimEnd('/'), context.TrimEnd('/'));
            Assert.True(File.Exists(Path.Combine(context, build["dockerfile"].ToString())), $"{name}: dockerfile");
            // Relative sources are files of this repository; absolute ones are the host's own (its TLS certificates);
            // a bare name is a named volume the file declares (the coordinator's state).
            var named = compose.Children.TryGetValue("volumes", out var declared) ? ((YamlMappingNode)declared).Children.Keys.Select(k => k.ToString()).ToHashSet() : [];
            foreach (var volume in ((YamlSequenceNode)service["volumes"]).Children.Select(v => v.ToString().Split(':')[0]).Where(v => !Path.IsPathRooted(v)))
            {
                Assert.True(named.Contains(volume) || File.Exists(Path.Combine(Deploy, "docker", volume)), $"{name}: volume {volume}");
            }

            Assert.Equal("host", service["network_mode"].ToString());
            if (name.ToString() != "coordinator")
            {
                Assert.Equal(["NET_RAW", "NET_ADMIN"], ((YamlSequenceNode)service["cap_add"]).Children.Select(c => c.ToString()));
            }
        }
    }

    [Fact]
    public async Task The_kubernetes_manifests_parse_and_hang_together()
    {
        var documents = Load(Path.Combine(Deploy, "k8s", "replaycluster.yaml")).ToList();
        string Kind(YamlMappingNode d) => d["kind"].ToString();
        string Name(YamlMappingNode d) => ((YamlMappingNode)d["metadata"])["name"].ToString();
        Assert.Equal(["ConfigMap", "DaemonSet", "Deployment", "Deployment", "Namespace", "NetworkPolicy", "NetworkPolicy", "Service"], documents.Select(Kind).Order());

        var config = (YamlMappingNode)documents.Single(d => Kind(d) == "ConfigMap")["data"];
        var capture = documents.Single(d => Kind(d) == "DaemonSet");
        var podSpec = (YamlMappingNode)((YamlMappingNode)((YamlMappingNode)capture["spec"])["template"])["spec"];
        Assert.Equal("true", podSpec["hostNetwork"].ToString());
        var container = (YamlMappingNode)((YamlSequenceNode)podSpec["containers"]).Children[0];
        var add = ((YamlMappingNode)((YamlMappingNode)container["securityContext"])["capabilities"])["add"];
        Assert.Equal(["NET_RAW", "NET_ADMIN"], ((YamlSequenceNode)add).Children.Select(c => c.ToString()));

        var service = documents.Single(d => Kind(d) == "Service");
        var coordinator = documents.Single(d => Kind(d) == "Deployment" && Name(d) == "replaycluster-coordinator");
        Assert.Equal(
            ((YamlMappingNode)((YamlMappingNode)service["spec"])["selector"])["app"].ToString(),
            ((YamlMappingNode)((YamlMappingNode)((YamlMappingNode)((YamlMappingNode)coordinator["spec"])["template"])["metadata"])["labels"])["app"].ToString());

        // Every node's configuration from the ConfigMap is valid for that node (validated by the published binary).
        var folder = Directory.CreateTempSubdirectory("replaycluster-k8s-").FullName;
        var tls = await TlsFilesAsync();
        try
        {
            foreach (var node in Nodes)
            {
                var file = Path.Combine(folder, $"{node}.hocon");
                await File.WriteAllTextAsync(file, config[$"{node}.hocon"].ToString(), Cancellation);
                Assert.Contains("replaycluster.cluster.tls", config[$"{node}.hocon"].ToString(), StringComparison.Ordinal);
                var result = await CommandRunner.RunAsync(publish.Binary(node), ["--config", file, .. tls(node), "--print-config"], TimeSpan.FromSeconds(30),
                    new Dictionary<string, string> { ["REPLAYCLUSTER_PUBLIC_HOSTNAME"] = "10.1.2.3" }, Cancellation);
                Assert.True(result.ExitCode == 0, $"{node}.hocon from the ConfigMap: {result.StdOut}{result.StdErr}");
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>A cluster CA and one certificate per node, made with the published coordinator; the --set lines that use them.</summary>
    private async Task<Func<string, string[]>> TlsFilesAsync()
    {
        var directory = Path.Combine(Directory.CreateTempSubdirectory("replaycluster-tls-").FullName, "tls");
        (await CommandRunner.RunAsync(publish.Binary("coordinator"), ["certs", "init", "--dir", directory], TimeSpan.FromSeconds(30), cancellationToken: Cancellation))
            .EnsureSuccess("certs init");
        foreach (var node in Nodes)
        {
            (await CommandRunner.RunAsync(publish.Binary("coordinator"), ["certs", "issue", "--dir", directory, "--role", node, "--name", node],
                TimeSpan.FromSeconds(30), cancellationToken: Cancellation)).EnsureSuccess($"certs issue {node}");
        }

        return node =>
        [
            "--set", $"replaycluster.cluster.tls.ca-certificate = \"{directory}/ca.crt\"",
            "--set", $"replaycluster.cluster.tls.certificate = \"{directory}/{node}.crt\"",
            "--set", $"replaycluster.cluster.tls.private-key = \"{directory}/{node}.key\"",
        ];
    }

    /// <summary>Issue 10, finding 6: every unit has explained memory and CPU ceilings; the capture node yields CPU to production.</summary>
    [Fact]
    public void The_systemd_units_set_explained_memory_and_cpu_ceilings()
    {
        foreach (var node in Nodes)
        {
            var lines = File.ReadAllLines(Path.Combine(Deploy, "systemd", $"replaycluster-{node}.service"));
            foreach (var key in new[] { "MemoryHigh", "MemoryMax", "MemorySwapMax", "CPUQuota", "CPUWeight", "TasksMax" })
            {
                var at = Array.FindIndex(lines, l => l.StartsWith(key + "=", StringComparison.Ordinal));
                Assert.True(at > 0, $"{node}: no {key}");
                var above = lines.Take(at).Reverse().SkipWhile(l => UnitKey().IsMatch(l)).FirstOrDefault() ?? string.Empty;
                Assert.True(above.StartsWith('#'), $"{node}: {key} is not explained by a comment above it");
            }

            Assert.True(Bytes(UnitValue(lines, "MemoryHigh")) < Bytes(UnitValue(lines, "MemoryMax")), $"{node}: MemoryHigh must throttle before MemoryMax kills");
        }

        var capture = File.ReadAllLines(Path.Combine(Deploy, "systemd", "replaycluster-capture.service"));
        Assert.True(int.Parse(UnitValue(capture, "CPUWeight"), System.Globalization.CultureInfo.InvariantCulture) < 100,
            "the capture node must weigh less than an ordinary service (the production one) when cores are contended");
        Assert.Equal("100%", UnitValue(capture, "CPUQuota"));

        // The kernel's ceiling stays above the node's own (captured bytes it may hold + what a full session table takes,
        // 4.6 KB per live session, bench/README.md), or the kernel kills the node before its admission refuses sessions.
        var hocon = Akka.Configuration.ConfigurationFactory.ParseString(File.ReadAllText(Path.Combine(publish.Repository, "hocon", "capture.hocon")));
        var own = hocon.GetByteSize("replaycluster.capture.max-node-buffered-bytes")!.Value + hocon.GetInt("replaycluster.capture.max-live-sessions") * 4_636L;
        Assert.True(Bytes(UnitValue(capture, "MemoryHigh")) > own, $"MemoryHigh {UnitValue(capture, "MemoryHigh")} under the node's own ceilings ({own} bytes)");
        foreach (var node in new[] { "capture", "intercept" })
        {
            Assert.Equal("CAP_NET_RAW CAP_NET_ADMIN", UnitValue(File.ReadAllLines(Path.Combine(Deploy, "systemd", $"replaycluster-{node}.service")), "CapabilityBoundingSet"));
        }

        Assert.Equal(string.Empty, UnitValue(File.ReadAllLines(Path.Combine(Deploy, "systemd", "replaycluster-coordinator.service")), "CapabilityBoundingSet"));
    }

    [Fact]
    public void Containers_run_as_a_non_root_user_with_only_the_capabilities_they_need_and_limits()
    {
        foreach (var node in Nodes)
        {
            var dockerfile = File.ReadAllText(Path.Combine(Deploy, "docker", $"Dockerfile.{node}"));
            var user = UserInstruction().Match(dockerfile);
            Assert.True(user.Success, $"Dockerfile.{node} has no USER");
            Assert.DoesNotMatch("^(0|root)(:|$)", user.Groups["user"].Value);
            Assert.True(dockerfile.IndexOf("COPY ", StringComparison.Ordinal) < user.Index, $"Dockerfile.{node}: USER before COPY");
            Assert.Equal(node != "coordinator", dockerfile.Contains($"setcap cap_net_raw,cap_net_admin+ep /opt/replaycluster/{node}/replaycluster-{node}", StringComparison.Ordinal));
        }

        Assert.Contains("setcap cap_net_admin+ep /usr/sbin/nft", File.ReadAllText(Path.Combine(Deploy, "docker", "Dockerfile.capture")), StringComparison.Ordinal);

        var services = (YamlMappingNode)Load(Path.Combine(Deploy, "docker", "compose.yaml")).Single()["services"];
        foreach (var (name, value) in services.Children)
        {
            var service = (YamlMappingNode)value;
            Assert.DoesNotMatch("^(0|root)(:|$)", service["user"].ToString());
            Assert.Equal("true", service["read_only"].ToString());
            Assert.Equal(["ALL"], ((YamlSequenceNode)service["cap_drop"]).Children.Select(c => c.ToString()));
            foreach (var key in new[] { "mem_limit", "memswap_limit", "cpus", "cpu_shares", "pids_limit" })
            {
                Assert.True(service.Children.ContainsKey(key), $"{name}: no {key}");
            }

            Assert.Equal(name.ToString() == "coordinator", service.Children.ContainsKey("security_opt"));
        }

        var documents = Load(Path.Combine(Deploy, "k8s", "replaycluster.yaml")).ToList();
        var workloads = documents.Where(d => d["kind"].ToString() is "Deployment" or "DaemonSet").ToList();
        Assert.Equal(3, workloads.Count);
        foreach (var workload in workloads)
        {
            var pod = (YamlMappingNode)((YamlMappingNode)((YamlMappingNode)workload["spec"])["template"])["spec"];
            var podSecurity = (YamlMappingNode)pod["securityContext"];
            Assert.Equal("true", podSecurity["runAsNonRoot"].ToString());
            Assert.NotEqual("0", podSecurity["runAsUser"].ToString());
            foreach (var container in ((YamlSequenceNode)pod["containers"]).Children.Cast<YamlMappingNode>())
            {
                var name = container["name"].ToString();
                var security = (YamlMappingNode)container["securityContext"];
                Assert.Equal("true", security["readOnlyRootFilesystem"].ToString());
                var capabilities = (YamlMappingNode)security["capabilities"];
                Assert.Equal(["ALL"], ((YamlSequenceNode)capabilities["drop"]).Children.Select(c => c.ToString()));
                var added = capabilities.Children.TryGetValue("add", out var add) ? ((YamlSequenceNode)add).Children.Select(c => c.ToString()).ToList() : [];
                Assert.Equal(name == "coordinator" ? [] : ["NET_RAW", "NET_ADMIN"], added);
                Assert.Equal(name == "coordinator" ? "false" : "true", security["allowPrivilegeEscalation"].ToString());
                var resources = (YamlMappingNode)container["resources"];
                foreach (var kind in new[] { "requests", "limits" })
                {
                    var values = (YamlMappingNode)resources[kind];
                    Assert.True(values.Children.ContainsKey("cpu") && values.Children.ContainsKey("memory"), $"{name}: {kind} without cpu and memory");
                }

                // The same memory ceiling as the systemd unit, where the value is explained.
                var unit = File.ReadAllLines(Path.Combine(Deploy, "systemd", $"replaycluster-{name}.service"));
                Assert.Equal(Bytes(UnitValue(unit, "MemoryMax")), Bytes(((YamlMappingNode)resources["limits"])["memory"].ToString()));
            }
        }

        var policies = documents.Where(d => d["kind"].ToString() == "NetworkPolicy").Select(d => (YamlMappingNode)d["spec"]).ToList();
        var deny = policies.Single(p => ((YamlMappingNode)p["podSelector"]).Children.Count == 0);
        Assert.Equal(["Ingress", "Egress"], ((YamlSequenceNode)deny["policyTypes"]).Children.Select(c => c.ToString()));
        Assert.False(deny.Children.ContainsKey("ingress") || deny.Children.ContainsKey("egress"), "the default policy denies everything");
        var coordinator = policies.Single(p => ((YamlMappingNode)p["podSelector"]).Children.Count > 0);
        Assert.Equal("replaycluster-coordinator", ((YamlMappingNode)((YamlMappingNode)coordinator["podSelector"])["matchLabels"])["app"].ToString());
        var ports = ((YamlSequenceNode)((YamlMappingNode)((YamlSequenceNode)coordinator["ingress"]).Children.Single())["ports"]).Children
            .Select(p => ((YamlMappingNode)p)["port"].ToString());
        Assert.Equal(["4053"], ports);
    }

    private static string UnitValue(string[] lines, string key) =>
        lines.Single(l => l.StartsWith(key + "=", StringComparison.Ordinal))[(key.Length + 1)..].Trim();

    /// <summary>systemd's and Kubernetes' sizes: 512M, 3G, 3Gi, 512Mi.</summary>
    private static long Bytes(string text)
    {
        var match = SizeText().Match(text);
        Assert.True(match.Success, $"'{text}' is not a size");
        var value = long.Parse(match.Groups["value"].Value, System.Globalization.CultureInfo.InvariantCulture);
        return match.Groups["unit"].Value.TrimEnd('i') switch
        {
            "K" or "k" => value << 10,
            "M" => value << 20,
            "G" => value << 30,
            "T" => value << 40,
            _ => value,
        };
    }

    private static IEnumerable<YamlMappingNode> Load(string path)
    {
        var stream = new YamlStream();
        using var reader = new StringReader(File.ReadAllText(path));
        stream.Load(reader);
        return stream.Documents.Select(d => (YamlMappingNode)d.RootNode);
    }

    /// <summary>cp -a: symlinks stay symlinks (systemd's *.wants folders are made of them).</summary>
    private static async Task CopyAsync(string source, string targetFolder)
    {
        var result = await CommandRunner.RunAsync("cp", ["-a", source, targetFolder], TimeSpan.FromSeconds(60), cancellationToken: Cancellation);
        Assert.True(result.ExitCode == 0, $"cp -a {source}: {result.StdErr}");
    }

    [GeneratedRegex(@"^COPY\s+(?<source>\S+)\s+(?<target>\S+)\s*$", RegexOptions.Multiline)]
    private static partial Regex CopyInstruction();

    [GeneratedRegex(@"^[A-Za-z]+=")]
    private static partial Regex UnitKey();

    [GeneratedRegex(@"^USER\s+(?<user>\S+)\s*$", RegexOptions.Multiline)]
    private static partial Regex UserInstruction();

    [GeneratedRegex(@"^(?<value>\d+)(?<unit>[KkMGT]i?)?$")]
    private static partial Regex SizeText();

    [GeneratedRegex(@"^ENTRYPOINT\s+\[""(?<path>[^""]+)""\]", RegexOptions.Multiline)]
    private static partial Regex EntrypointInstruction();
}
