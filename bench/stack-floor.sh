#!/usr/bin/env bash
# stack-floor.sh - what the stack costs before any ReplayCluster code: RSS at start and idle CPU of
#   runtime   a .NET process that prints "ready" and waits (the runtime alone)
#   actors    the same with an Akka.NET actor system and one actor, no remoting
#   cluster   three bare Akka.NET cluster nodes (Akka's own transport, plain TCP, Akka's default ticks: heartbeat
#             1 s, gossip 1 s), on 127.0.0.1 inside a network namespace of their own
# all built from bench/stack-floor (tiering off and the thread-pool spin limit, from Directory.Build.props, as the
# nodes). Read like bench/idle.sh: start RSS when a process printed "ready", then WARMUP s of nothing, then over
# MEASURE s: CPU (utime + stime, % of one core), context switches/s (summed over the live threads: a thread that ends in
# the window takes its count with it, so short windows right after start can read low, even negative), RSS at the end.
# The nodes' own numbers (bench/idle.sh) minus these are what ReplayCluster adds; bench/README.md, "The stack's floor".
#
#   sudo bench/stack-floor.sh                        # RUNS=3 WARMUP=40 MEASURE=30, ~4 min
#   sudo RUNS=1 WARMUP=40 MEASURE=30 bench/stack-floor.sh
# Nothing leaves the namespace (lo only, no other link, no route). Processes are killed by PID, the namespace
# deleted, on exit and on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
warmup=${WARMUP:-40}
measure=${MEASURE:-30}
if [[ ${EUID} -ne 0 ]]; then echo "stack-floor.sh: must run as root (network namespace)" >&2; exit 1; fi

work=$(mktemp -d /tmp/stack-floor.XXXXXX)
ns="rcfloor-$$-${RANDOM}"
pids=()
# stop_started: SIGTERM to every process this script started, up to 10 s for each to end, then SIGKILL.
stop_started() {
  local p
  for p in "${pids[@]}"; do kill -TERM "${p}" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 40); do kill -0 "${p}" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "${p}" 2>/dev/null || true
  done
  pids=()
}
cleanup() {
  stop_started
  ip netns del "${ns}" 2>/dev/null || true
  rm -rf "${work}"
}
trap cleanup EXIT

dotnet build bench/stack-floor/StackFloor.csproj -c Release -nologo -v quiet -o "${work}/bin" >"${work}/build.log" 2>&1 \
  || { cat "${work}/build.log" >&2; exit 1; }
ip netns add "${ns}"
ip -n "${ns}" link set lo up

clk_tck=$(getconf CLK_TCK)
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
switches() { local n=0 t; for t in /proc/$1/task/*; do n=$((n + $(awk '/^(non)?voluntary_ctxt_switches:/ { s += $2 } END { print s + 0 }' "${t}/status" 2>/dev/null || echo 0))); done; echo "${n}"; }
wait_ready() { # LOG PID
  for _ in $(seq 1 240); do
    grep -q '^ready' "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { echo "stack-floor.sh: process exited before ready: $(cat "$1")" >&2; return 1; }
    sleep 0.25
  done
  echo "stack-floor.sh: not ready after 60 s" >&2; return 1
}
start() { # NAME ARGS... -> PID in started_pid
  ip netns exec "${ns}" dotnet "${work}/bin/StackFloor.dll" "${@:2}" >"${work}/$1.log" 2>&1 &
  started_pid=$!
  pids+=("${started_pid}")
}

declare -A results
printf '%-4s %-10s %8s %9s %9s %8s\n' run process "cpu%" startMB rssMB "cs/s"
for ((run = 1; run <= runs; run++)); do
  declare -A pid=() start_kb=()
  start runtime runtime; pid[runtime]=${started_pid}
  start actors actors; pid[actors]=${started_pid}
  start cluster1 cluster 127.0.0.1:4701 127.0.0.1:4701; pid[cluster1]=${started_pid}
  start cluster2 cluster 127.0.0.1:4702 127.0.0.1:4701; pid[cluster2]=${started_pid}
  start cluster3 cluster 127.0.0.1:4703 127.0.0.1:4701; pid[cluster3]=${started_pid}
  for name in runtime actors cluster1 cluster2 cluster3; do
    wait_ready "${work}/${name}.log" "${pid[${name}]}"
    start_kb[${name}]=$(status_kb "${pid[${name}]}" VmRSS)
  done
  sleep "${warmup}"
  declare -A t0=() s0=()
  for name in "${!pid[@]}"; do t0[${name}]=$(cpu_ticks "${pid[${name}]}"); s0[${name}]=$(switches "${pid[${name}]}"); done
  sleep "${measure}"
  for name in runtime actors cluster1 cluster2 cluster3; do
    p=${pid[${name}]}
    cpu=$(awk -v a="${t0[${name}]}" -v b="$(cpu_ticks "${p}")" -v hz="${clk_tck}" -v s="${measure}" 'BEGIN { printf "%.2f", (b - a) / hz / s * 100 }')
    cs=$(awk -v a="${s0[${name}]}" -v b="$(switches "${p}")" -v s="${measure}" 'BEGIN { printf "%.0f", (b - a) / s }')
    startmb=$(awk -v k="${start_kb[${name}]}" 'BEGIN { printf "%.1f", k / 1024 }')
    rssmb=$(awk -v k="$(status_kb "${p}" VmRSS)" 'BEGIN { printf "%.1f", k / 1024 }')
    printf '%-4s %-10s %8s %9s %9s %8s\n' "${run}" "${name}" "${cpu}" "${startmb}" "${rssmb}" "${cs}"
    group=${name%[0-9]}
    results[${group}]+="${cpu} ${startmb} ${rssmb} ${cs}"$'\n'
  done
  stop_started
done

echo
echo "medians over ${runs} run(s) (the cluster's three nodes pooled), ${measure} s windows after ${warmup} s of warm-up:"
printf '%-10s %8s %9s %9s %8s\n' process "cpu%" startMB rssMB "cs/s"
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for group in runtime actors cluster; do
  line=$(printf '%s' "${results[${group}]}")
  printf '%-10s %8s %9s %9s %8s\n' "${group}" \
    "$(awk '{ print $1 }' <<<"${line}" | median)" "$(awk '{ print $2 }' <<<"${line}" | median)" \
    "$(awk '{ print $3 }' <<<"${line}" | median)" "$(awk '{ print $4 }' <<<"${line}" | median)"
done
