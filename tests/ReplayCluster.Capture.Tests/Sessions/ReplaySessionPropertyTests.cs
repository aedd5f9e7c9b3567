using System.Text;
using CsCheck;
using ReplayCluster.Capture.Sessions;

namespace ReplayCluster.Capture.Tests.Sessions;

public sealed class ReplaySessionPropertyTests
{
    [Fact]
    public void Any_loss_up_to_ten_percent_each_way_delivers_every_request_in_order()
    {
        Gen.Select(Gen.Int[1, 1_000_000], Gen.Double[0, 0.10], Gen.Double[0, 0.10], Gen.Int[1, 12], Gen.Int[0, 8000], Gen.Int[1, 20_000], Gen.Bool)
            .Sample((seed, lossTo, lossFrom, requests, bodySize, responseSize, keepTimestamps) =>
            {
                var harness = new ReplayHarness(seed: seed) { LossToTarget = lossTo, LossFromTarget = lossFrom };
                harness.Target.ResponseSize = responseSize;
                harness.Target.Timestamps = keepTimestamps;
                var client = new RecordedClient().Syn().HandshakeAck();
                var expected = new StringBuilder();
                for (var i = 0; i < requests; i++)
                {
                    var request = RecordedClient.HttpRequest(i, "POST", new string('b', bodySize));
                    expected.Append(request);
                    client.Request(request).ServerSent(responseSize);
                }

                client.Fin().CaptureInto(harness, TimeSpan.FromMilliseconds(1));
                harness.Run(TimeSpan.FromMinutes(30));

                return harness.Target.ReceivedText == expected.ToString()
                    && harness.Session.EndReason == SessionEndReason.Completed
                    && harness.Session.Counters.RequestsDelivered == requests;
            }, iter: 150);
    }

    [Fact]
    public void Trimming_the_idle_buffers_after_every_step_changes_nothing_the_target_sees()
    {
        // An idle session gives back its chunk list and its pacer ring; the next request allocates them again.
        // A relay slower than the recorded gaps releases requests on their gaps, up to the bound (1 to 8): that fills
        // the ring; loss makes it resynchronise.
        Gen.Select(Gen.Int[1, 1_000_000], Gen.Double[0, 0.05], Gen.Int[1, 16], Gen.Int[0, 3000], Gen.Int[1, 8], Gen.Int[0, 8])
            .Sample((seed, loss, requests, bodySize, bound, relayMs) =>
            {
                var runs = new[] { false, true }.Select(trim =>
                {
                    var options = new SessionOptions { MaxOutstandingRequests = bound };
                    var harness = new ReplayHarness(options, seed: seed) { LossToTarget = loss, LossFromTarget = loss, TrimAfterEachStep = trim,
                        RelayDelay = TimeSpan.FromMilliseconds(relayMs) };
                    // Recorded 1 ms apart, replayed live: a relay above 1 ms releases requests on their gaps.
                    var rtt = TimeSpan.FromMilliseconds(0.5);
                    var client = new RecordedClient().At(TimeSpan.Zero).Syn().At(rtt).HandshakeAck();
                    for (var i = 0; i < requests; i++)
                    {
                        client.At(rtt + TimeSpan.FromMilliseconds(i)).Request(RecordedClient.HttpRequest(i, "GET", new string('b', bodySize))).ServerSent(500);
                    }

                    client.At(rtt + TimeSpan.FromMilliseconds(requests)).Fin().CaptureLive(harness);
                    harness.Run(TimeSpan.FromMinutes(30));
                    return (Sent: harness.Sent.Select(s => (s.Spec with { IpId = 0 }, Convert.ToHexString(s.Payload), s.At)).ToList(), harness.Session.EndReason);
                }).ToList();

                return runs[0].EndReason == runs[1].EndReason && runs[0].Sent.SequenceEqual(runs[1].Sent);
            }, iter: 100);
    }
}
