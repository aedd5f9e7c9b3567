using Akka.Actor;
using Akka.Configuration;
using ReplayCluster.Capture.Sessions;

namespace ReplayCluster.Capture.Tests.Sessions;

public sealed class SessionMailboxSpecs() : Akka.TestKit.Xunit.TestKit(SessionMailboxConfig.WithShippedMailbox("akka.actor.provider = local"))
{
    [Fact]
    public void An_actor_on_the_mailbox_gets_every_message_of_concurrent_senders_in_each_senders_order()
    {
        // Akka schedules a mailbox run by its queue's HasMessages after each run: a queue that said false with a
        // message inside would strand it here, and the count below would never be reached.
        const int senders = 4;
        const int perSender = 20_000;
        var actor = Sys.ActorOf(Props.Create(() => new OrderChecker(senders, perSender, TestActor)).WithMailbox(SessionMailbox.ConfigPath));
        var threads = Enumerable.Range(0, senders).Select(s => new Thread(() =>
        {
            for (var i = 0; i < perSender; i++)
            {
                actor.Tell(new Item(s, i), ActorRefs.NoSender);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        Assert.Equal(senders * perSender, ExpectMsg<int>(TimeSpan.FromSeconds(30), cancellationToken: TestContext.Current.CancellationToken));
    }

    [Fact]
    public void The_shipped_configuration_gives_the_actor_a_session_message_queue()
    {
        var actor = Sys.ActorOf(Props.Create(() => new OrderChecker(1, 1, TestActor)).WithMailbox(SessionMailbox.ConfigPath));

        // A top-level actor's cell is swapped in once the actor starts.
        AwaitAssert(() => Assert.IsType<SessionMessageQueue>(SessionMailboxConfig.QueueOf(actor)), cancellationToken: TestContext.Current.CancellationToken);
    }

    private sealed record Item(int Sender, int Sequence);

    private sealed class OrderChecker(int senders, int perSender, IActorRef report) : UntypedActor
    {
        private readonly int[] _next = new int[senders];
        private int _received;

        protected override void OnReceive(object message)
        {
            var item = (Item)message;
            if (_next[item.Sender] != item.Sequence)
            {
                report.Tell($"sender {item.Sender}: {item.Sequence} after {_next[item.Sender] - 1}");
                return;
            }

            _next[item.Sender]++;
            if (++_received == senders * perSender)
            {
                report.Tell(_received);
            }
        }
    }
}

/// <summary>The session mailbox as hocon/capture.hocon (copied beside the tests) defines it, for actor systems of tests.</summary>
internal static class SessionMailboxConfig
{
    public static Config WithShippedMailbox(string hocon)
    {
        var shipped = ConfigurationFactory.ParseString(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "hocon", "capture.hocon")));
        var type = shipped.GetString($"{SessionMailbox.ConfigPath}.mailbox-type");
        return ConfigurationFactory.ParseString($"{hocon}\n{SessionMailbox.ConfigPath}.mailbox-type = \"{type}\"");
    }

    /// <summary>The message queue of a local actor's mailbox.</summary>
    public static Akka.Dispatch.MessageQueues.IMessageQueue? QueueOf(IActorRef actor) =>
        (actor as ActorRefWithCell)?.Underlying is ActorCell cell ? cell.Mailbox?.MessageQueue : null;
}
