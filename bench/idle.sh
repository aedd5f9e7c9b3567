#!/usr/bin/env bash
# idle.sh - what each ReplayCluster node costs with no traffic at all: CPU, memory at start, threads, wake-ups.
#
# RUNS times: builds a namespace lab (deploy/lab/lab.sh, unique id, torn down on exit, also on failure) and starts
# the three nodes as deploy/demo.sh does (coordinator in the target namespace, intercept on the assistant, one
# capture node on the online host), waits until all joined and the capture node captures, then:
#   start RSS     VmRSS of each node right after that (the node is up and idle)
#   warm-up       WARMUP seconds of nothing (tiered JIT, first gossip rounds, first statistics)
#   window        MEASURE seconds of nothing, over which it reads from /proc:
#     cpu %       (utime + stime) delta of the process / window, in % of one core
#     cs/s        voluntary + involuntary context switches of all threads / window (~ wake-ups per second)
#     threads     thread count at the end;  hwm  VmHWM (peak RSS) at the end;  rss  VmRSS at the end
#   (Each node gives back the native memory its start left free once it has been ready for 30 s, after the start RSS
#   is read: with WARMUP of 40 s or more, rss shows the node after that, hwm before it. hocon/common.hocon,
#   trim-memory-after.)
# Prints one line per node and run, then the medians per node. With THREADS=1 it also prints, per node and run,
# the threads that used CPU in the window (name from /proc/PID/task/TID/comm, ticks, context switches).
#
# Environment:
#   RUNS (3), WARMUP (10 s), MEASURE (60 s), CONFIGURATION (Release), BUILD (1: dotnet build first; 0: use the
#   binaries as they are), THREADS (0), NODE_ARGS (extra arguments for every node, e.g.
#   "--set akka.scheduler.tick-duration=10ms"), SMAPS (0; 1: where each node's resident memory is, by mapping), NODES_FROM (a checkout whose built nodes to run instead of this
#   one's, e.g. an older commit: git archive BASE | tar -x -C /tmp/base, build it, NODES_FROM=/tmp/base BUILD=0).
#   The nodes inherit this script's environment, so runtime knobs can be tried without a rebuild:
#   DOTNET_gcServer=1 bench/idle.sh
# No traffic is sent; nothing runs outside the lab's namespaces.
#
#   sudo bench/idle.sh                       # 3 runs x ~80 s
#   sudo RUNS=1 MEASURE=20 THREADS=1 BUILD=0 bench/idle.sh
#
# Measured 2026-11-30 on the shared 2-core lab machine (load average 12-35 from other work; cpu% is CPU time, so it
# is little affected), medians of 3 runs, RUNS=3 WARMUP=60 MEASURE=60; base = 23f9661 built in /tmp/idle2/base
# (NODES_FROM), now = branch idle2 (a4991f8). Steps, what was tried and where the memory goes: bench/README.md,
# "Idle and start".
#   node          cpu% base  now     cs/s base  now     start RSS MB base  now
#   coordinator      0.81    0.33        171     86               111.8  110.2
#   intercept        0.69    0.39        189     72               161.1  160.9
#   capture          0.61    0.28        181     65               165.9  163.0
# (At d12fb93, before the thread-pool spin limit and the DeadlineScheduler: ~4.8 % of a core, ~12,900 cs/s per node.)
# (Then, the capture and intercept nodes' rings were 64 MiB each; now see capture-buffer-size in hocon/capture.hocon
# and hocon/intercept.hocon: the ring is resident in full and part of a node's RSS.)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
runs=${RUNS:-3}
warmup=${WARMUP:-10}
measure=${MEASURE:-60}
configuration=${CONFIGURATION:-Release}
build=${BUILD:-1}
threads=${THREADS:-0}
smaps=${SMAPS:-0}
read -r -a node_args <<<"${NODE_ARGS:-}"
lab_sh=${repo}/deploy/lab/lab.sh
clk_tck=$(getconf CLK_TCK)

if [[ ${EUID} -ne 0 ]]; then
  echo "idle.sh: must run as root (network namespaces, libpcap)" >&2
  exit 1
fi

"${repo}/deploy/install-prereqs.sh"
if ((build)); then
  dotnet build "${repo}/ReplayCluster.sln" -c "${configuration}" -nologo -v quiet >/dev/null
fi
declare -A dll=()
for role in coordinator intercept capture; do
  dll[${role}]=${NODES_FROM:-${repo}}/src/${role^}/bin/${configuration}/net10.0/replaycluster-${role}.dll
  [[ -f ${dll[${role}]} ]] || { echo "idle.sh: ${dll[${role}]} is missing (build first)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/idle.XXXXXX)
id=""
guard=""
declare -A pid=()
nodes=(coordinator intercept capture)

stop_nodes() { # SIGTERM (they leave the cluster), the coordinator last; SIGKILL after 15 s. Only our own PIDs.
  local name i
  for name in intercept capture coordinator; do
    [[ -n ${pid[${name}]:-} ]] || continue
    kill -TERM "${pid[${name}]}" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
      kill -0 "${pid[${name}]}" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "${pid[${name}]}" 2>/dev/null || true
    wait "${pid[${name}]}" 2>/dev/null || true
    unset "pid[${name}]"
  done
}

lab_down() {
  stop_nodes
  if [[ -n ${id} ]]; then
    [[ -z ${guard} ]] || kill -TERM -- "-${guard}" 2>/dev/null || true
    "${lab_sh}" down --id "${id}" >/dev/null 2>&1 || true
    id=""
    guard=""
  fi
}

cleanup() {
  local rc=$?
  trap '' INT TERM
  lab_down
  echo "node logs of the last run: ${work}" >&2
  exit "${rc}"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() { # MESSAGE: with the tail of every node log
  local name
  for name in "${nodes[@]}"; do
    [[ -f ${work}/${name}.log ]] || continue
    echo "---- ${work}/${name}.log" >&2
    tail -n 15 "${work}/${name}.log" | cut -c1-300 >&2
  done
  echo "idle.sh: $*" >&2
  exit 1
}

wait_logged() { # TIMEOUT_S PATTERN NAME...
  local timeout=$1 pattern=$2 name i
  shift 2
  for name in "$@"; do
    for ((i = 0; ; i++)); do
      grep -q "${pattern}" "${work}/${name}.log" 2>/dev/null && break
      kill -0 "${pid[${name}]}" 2>/dev/null || fail "${name} exited before it logged '${pattern}'"
      ((i < timeout * 10)) || fail "${name} did not log '${pattern}' within ${timeout} s"
      sleep 0.1
    done
  done
}

start_node() { # NAME NAMESPACE ROLE ARGS...
  local name=$1 ns=$2 role=$3
  shift 3
  # ip netns exec execs dotnet: $! is the node's own PID.
  # Mutual TLS as in production: the lab's certificate for this role (lab.sh certs below).
  ip netns exec "${ns}" dotnet "${dll[${role}]}" --config "${tls_dir}/${role}.hocon" "$@" "${node_args[@]}" </dev/null >"${work}/${name}.log" 2>&1 &
  pid[${name}]=$!
}

status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; } # PID FIELD -> kB (or count)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }                # PID -> utime + stime of all threads
switch_sample() { # PID -> "TID switches ns-on-cpu comm" per live thread (voluntary + involuntary; schedstat)
  local task
  for task in "/proc/$1"/task/*; do
    printf '%s %s %s %s\n' "${task##*/}" \
      "$(awk '/^(non)?voluntary_ctxt_switches:/ { n += $2 } END { print n + 0 }' "${task}/status" 2>/dev/null || echo 0)" \
      "$(awk '{ print $1 }' "${task}/schedstat" 2>/dev/null || echo 0)" \
      "$( (tr ' ' '_' <"${task}/comm") 2>/dev/null || echo '?')"
  done
}
# Switches in the window from samples "N TID switches ns comm" (N = sample number, 1 = window start): per thread, the
# last count minus the count at the start (0 for a thread born in the window). Thread-pool workers come and go (they
# retire after 20 s idle), so one sum at each end would lose the switches of threads that exited meanwhile.
switches_in_window() { # FILE
  awk '{ if ($1 == 1) first[$2] = $3; last[$2] = $3 }
       END { for (t in last) n += (last[t] >= first[t]) ? last[t] - first[t] : last[t]; print n + 0 }' "$1" # < : id reused
}
# Per thread from the same samples (threads born in the window included, from 0): "ns switches comm tid born".
threads_in_window() { # FILE
  awk '{ if ($1 == 1) { c0[$2] = $3; t0[$2] = $4 } else if (!($2 in c0)) { c0[$2] = 0; t0[$2] = 0; born[$2] = 1 }
         c[$2] = $3; t[$2] = $4; comm[$2] = $5 }
       END { for (id in c) { dt = t[id] - t0[id]; dc = c[id] - c0[id]
               if (dt < 0 || dc < 0) { dt = t[id]; dc = c[id] } # the id was reused by a thread born in the window
               print dt, dc, comm[id], id, (id in born || dt == t[id] && t0[id] > 0) ? "born" : "" } }' "$1"
}

results=${work}/results
: >"${results}"
printf '%-4s %-12s %8s %9s %9s %9s %8s %8s\n' run node "cpu%" "startMB" "rssMB" "hwmMB" threads "cs/s"
for ((run = 1; run <= runs; run++)); do
  id="i$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n' | cut -c1-5)"
  "${lab_sh}" up --id "${id}" >"${work}/lab.env" 2>"${work}/lab-up.err" || { cat "${work}/lab-up.err" >&2; id=""; fail "lab.sh up failed"; }
  tls_dir=$("${lab_sh}" certs --id "${id}" --with "dotnet ${dll[coordinator]}" 2>"${work}/lab-certs.err" | sed -n 's/^TLS_DIR=//p')
  [[ -n ${tls_dir} ]] || { cat "${work}/lab-certs.err" >&2; fail "lab.sh certs failed"; }
  setsid "${lab_sh}" guard --id "${id}" --pid $$ </dev/null >/dev/null 2>&1 &
  guard=$!
  fact() { sed -n "s/^$1=//p" "${work}/lab.env"; }

  seed="$(fact TARGET_IP):4053"
  # Its HTTP API token goes to the run's folder, not /var/lib/replaycluster of this machine.
  start_node coordinator "$(fact NS_TARGET)" coordinator --hostname "$(fact TARGET_IP)" --port 4053 -c "$(fact FAKE_RANGE)" \
    --token-file "${work}/api-token"
  wait_logged 30 "Joined cluster as" coordinator
  start_node intercept "$(fact NS_ASSISTANT)" intercept --hostname "$(fact ASSISTANT_IP)" --seed "${seed}" -i "$(fact ASSISTANT_IF)"
  start_node capture "$(fact NS_ONLINE)" capture --hostname "$(fact ONLINE_UPLINK_IP)" --seed "${seed}" \
    -i "$(fact ONLINE_IF)" -x "80-$(fact TARGET_IP):$(fact TARGET_NGINX_PORT)"
  wait_logged 30 "Joined cluster as" intercept capture
  wait_logged 30 "Capturing on" capture

  declare -A start_kb=() t0=() before=()
  for name in "${nodes[@]}"; do start_kb[${name}]=$(status_kb "${pid[${name}]}" VmRSS); done
  sleep "${warmup}"
  for name in "${nodes[@]}"; do
    t0[${name}]=$(cpu_ticks "${pid[${name}]}")
    switch_sample "${pid[${name}]}" | sed 's/^/1 /' >"${work}/switches.${name}"
  done
  start_ms=$(date +%s%3N)
  for ((sample = 2; $(date +%s%3N) < start_ms + measure * 1000; sample++)); do
    sleep "$(awk -v left="$((start_ms + measure * 1000 - $(date +%s%3N)))" 'BEGIN { s = left / 1000; print (s > 2 ? 2 : s) }')"
    for name in "${nodes[@]}"; do switch_sample "${pid[${name}]}" | sed "s/^/${sample} /" >>"${work}/switches.${name}"; done
  done
  seconds=$(awk -v a="${start_ms}" -v b="$(date +%s%3N)" 'BEGIN { print (b - a) / 1000 }')
  for name in "${nodes[@]}"; do
    p=${pid[${name}]}
    kill -0 "${p}" 2>/dev/null || fail "${name} exited during the measurement"
    line=$(awk -v run="${run}" -v name="${name}" -v s="${seconds}" -v hz="${clk_tck}" \
      -v t0="${t0[${name}]}" -v t1="$(cpu_ticks "${p}")" -v switches="$(switches_in_window "${work}/switches.${name}")" \
      -v start="${start_kb[${name}]}" -v rss="$(status_kb "${p}" VmRSS)" -v hwm="$(status_kb "${p}" VmHWM)" \
      -v th="$(status_kb "${p}" Threads)" \
      'BEGIN { printf "%-4s %-12s %8.2f %9.1f %9.1f %9.1f %8d %8.0f\n", run, name, (t1 - t0) / hz / s * 100,
               start / 1024, rss / 1024, hwm / 1024, th, switches / s }')
    echo "${line}"
    echo "${line}" >>"${results}"
    if ((threads)); then
      # Threads that used CPU or woke up in the window, busiest first ("born": started in the window), and their sum.
      threads_in_window "${work}/switches.${name}" | awk -v s="${seconds}" '{ if ($1 > 0 || $2 > 0)
              printf "     %7.3f%%  %7.1f cs/s  %-24s tid %s %s\n", $1 / 1e9 / s * 100, $2 / s, $3, $4, $5 }' |
        sort -k1,1rn -k2,2rn | head -n 15
      threads_in_window "${work}/switches.${name}" | awk -v s="${seconds}" '{ n += $1; b += ($5 == "born") }
        END { printf "     %7.3f%%  all threads sampled (%d born in the window)\n", n / 1e9 / s * 100, b }'
    fi
    if ((smaps)); then
      # Where the resident memory is, by mapping (file name, or [heap]/[stack]/anonymous), largest first.
      awk '/^[0-9a-f]+-[0-9a-f]+ / { name = (NF >= 6) ? $6 : "[anonymous]"; sub(/.*\//, "", name) }
           /^Rss:/ { rss[name] += $2 } /^Anonymous:/ { anon[name] += $2 }
           END { for (n in rss) if (rss[n] >= 512) printf "     %8.1f MB rss %8.1f MB anon  %s\n", rss[n] / 1024, anon[n] / 1024, n }' \
        "/proc/${p}/smaps" | sort -k1,1rn | head -n 15
    fi
  done
  mkdir -p "${work}/run${run}"
  lab_down
  cp "${work}"/*.log "${work}/run${run}/" 2>/dev/null || true
done

echo
echo "medians of ${runs} run(s), ${measure} s windows after ${warmup} s of warm-up (cpu% = % of one core):"
printf '%-12s %8s %9s %9s %9s %8s %8s\n' node "cpu%" "startMB" "rssMB" "hwmMB" threads "cs/s"
for name in "${nodes[@]}"; do
  median() { awk -v n="${name}" -v c="$1" '$2 == n { print $c }' "${results}" | sort -n |
    awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
  printf '%-12s %8.2f %9.1f %9.1f %9.1f %8d %8.0f\n' "${name}" "$(median 3)" "$(median 4)" "$(median 5)" "$(median 6)" \
    "$(median 7)" "$(median 8)"
done
