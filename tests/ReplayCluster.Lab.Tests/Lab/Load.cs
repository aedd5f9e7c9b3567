namespace ReplayCluster.Lab.Tests.Lab;

/// <summary>A curl client in the client namespace sending one URL per request to one online host at a fixed rate.</summary>
internal static class Load
{
    /// <summary>
    /// <c>curl --rate R/s URL?...&amp;n=[1-COUNT]</c>: exactly <paramref name="count"/> requests, each with its own
    /// URL, over one keep-alive connection or (<paramref name="keepAlive"/> false) one connection per request.
    /// </summary>
    public static LabProcess Start(Lab lab, LabOnlineHost host, string @case, string client, int count, int ratePerSecond, bool keepAlive)
    {
        List<string> command = ["curl", "-sS", "--max-time", "5", "--rate", $"{ratePerSecond}/s", "-o", "/dev/null"];
        if (!keepAlive)
        {
            command.AddRange(["-H", "Connection: close"]);
        }

        command.Add($"http://{host.Ip}/1k?{@case}&host={host.Index}&client={client}&n=[1-{count}]");
        return lab.StartProcessIn(lab.ClientNamespace, command);
    }

    /// <summary>Waits for every client to finish; fails naming the first that did not finish or did not succeed.</summary>
    public static async Task WaitAllAsync(IReadOnlyList<LabProcess> loads, TimeSpan timeout)
    {
        try
        {
            await Task.WhenAll(loads.Select(l => l.Exited)).WaitAsync(timeout, TestContext.Current.CancellationToken);
        }
        catch (TimeoutException)
        {
            var stuck = loads.First(l => !l.HasExited);
            throw new TimeoutException($"'{stuck.CommandLine}' still ran after {timeout.TotalSeconds:0} s:\n{string.Join('\n', stuck.Lines.TakeLast(10))}");
        }

        var failed = loads.FirstOrDefault(l => l.ExitCode != 0);
        Assert.True(failed is null, failed is null ? string.Empty : $"'{failed.CommandLine}' exited with {failed.ExitCode}:\n{string.Join('\n', failed.Lines.TakeLast(10))}");
    }

    /// <summary>
    /// Waits until <paramref name="count"/> reaches <paramref name="expected"/>, or stops rising for 3 s, or
    /// <paramref name="timeout"/> passes; returns the last count (the caller asserts on it).
    /// </summary>
    public static async Task<int> WaitForCountAsync(Func<int> count, int expected, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var last = count();
        var since = DateTime.UtcNow;
        while (last < expected && DateTime.UtcNow < deadline && DateTime.UtcNow - since < TimeSpan.FromSeconds(3))
        {
            await Task.Delay(200, TestContext.Current.CancellationToken);
            var now = count();
            if (now != last)
            {
                (last, since) = (now, DateTime.UtcNow);
            }
        }

        // A request nginx is still logging, or one more the replay has not finished: one short look more.
        await Task.Delay(500, TestContext.Current.CancellationToken);
        return count();
    }

    /// <summary>
    /// <paramref name="count"/> requests to the online host through one curl, each its own URL
    /// (<c>/1k?case=NAME&amp;n=I</c>), so the target's access log can be searched for them.
    /// </summary>
    public static async Task CurlAsync(Lab lab, string name, int count)
    {
        var urls = Enumerable.Range(0, count).Select(i => $"http://{lab.OnlineIp}/1k?case={name}&n={i}").ToArray();
        (await lab.ExecAsync(LabRole.Client, ["curl", "-s", "-o", "/dev/null", .. urls], TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken)).EnsureSuccess("curl");
    }
}
