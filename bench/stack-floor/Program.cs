// The stack's own floor, for bench/stack-floor.sh: a process that does nothing, an Akka.NET actor system that does
// nothing, and a bare Akka.NET cluster node (Akka's transport, plain TCP, Akka's default cluster ticks, one actor).
// Each prints "ready" once it is what it measures, then waits for SIGTERM. No ReplayCluster code is loaded.
using Akka.Actor;
using Akka.Cluster;
using Akka.Configuration;
using System.Runtime.InteropServices;

var mode = args.Length > 0 ? args[0] : "";
using var stop = new ManualResetEventSlim();
// SIGTERM (the script's stop) and SIGINT end the wait; Main then stops what it started and returns.
using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Set(); });
using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Set(); });

switch (mode)
{
    case "runtime":
        Console.WriteLine("ready");
        stop.Wait();
        return 0;

    case "actors":
    {
        using var system = ActorSystem.Create("floor");
        system.ActorOf(Props.Create(() => new Quiet()), "quiet");
        Console.WriteLine("ready");
        stop.Wait();
        system.Terminate().Wait(TimeSpan.FromSeconds(10));
        return 0;
    }

    case "cluster" when args.Length == 3:
    {
        // cluster HOST:PORT SEED_HOST:SEED_PORT
        var self = args[1].Split(':');
        var config = ConfigurationFactory.ParseString($$"""
            akka.loglevel = WARNING
            akka.actor.provider = cluster
            akka.remote.dot-netty.tcp.hostname = "{{self[0]}}"
            akka.remote.dot-netty.tcp.port = {{self[1]}}
            akka.cluster.seed-nodes = ["akka.tcp://floor@{{args[2]}}"]
            """);
        using var system = ActorSystem.Create("floor", config);
        system.ActorOf(Props.Create(() => new Quiet()), "quiet");
        using var up = new ManualResetEventSlim();
        Cluster.Get(system).RegisterOnMemberUp(up.Set);
        if (!up.Wait(TimeSpan.FromSeconds(60)))
        {
            Console.Error.WriteLine("not up after 60 s");
            return 1;
        }
        Console.WriteLine("ready");
        stop.Wait();
        Cluster.Get(system).LeaveAsync().Wait(TimeSpan.FromSeconds(5));
        system.Terminate().Wait(TimeSpan.FromSeconds(10));
        return 0;
    }

    default:
        Console.Error.WriteLine("usage: StackFloor runtime | actors | cluster HOST:PORT SEED_HOST:SEED_PORT");
        return 2;
}

/// <summary>An actor that is never sent anything: the system has one user actor, as a node has many.</summary>
internal sealed class Quiet : ReceiveActor
{
    public Quiet() => ReceiveAny(_ => { });
}
