#!/usr/bin/env bash
# pgbench-pace.sh - does a replayer keep pace with live PostgreSQL traffic? (issue 13)
#
# RUNS repetitions (default 3), each running every mode once, interleaved (none, tcpcopy, replaycluster):
#   1. a fresh lab: deploy/lab/lab.sh up --postgres (torn down after the run, and on exit);
#   2. pgbench -i -s SCALE on the online and on the target database, each from its own namespace (same data);
#   3. the replayer, if any:
#        tcpcopy       intercept -i SINK_IF -F 'tcp and src port 5432' on the assistant, and on the online host
#                      tcpcopy -x 5432-TARGET_IP:5432 -s ASSISTANT_IP -c 10.200.9.x (shared/anchor binaries);
#        replaycluster coordinator on the target, intercept on the assistant, capture node on the online host with
#                      -i ONLINE_IF -x 5432-TARGET_IP:5432 -c FAKE_RANGE (Release build of this checkout);
#   4. a poller on the target: count(*) of pgbench_history every 200 ms, stamped with the server's clock;
#   5. pgbench -n -c CLIENTS -T DURATION -l from the client against the online PostgreSQL (TPC-B, trust auth;
#      -n: no vacuum/truncate connection before the load, so both sides count from the same empty history);
#   6. wait until the target's count settles: equal to the online count for 1 s, or unchanged for QUIET s, or DRAIN_MAX s.
# Measures, per run (the load window is first transaction start .. last commit, from pgbench's per-transaction log):
#   online tps      online transactions / load window
#   target tps      target transactions committed by the end of the load window / load window
#   ratio           target / online, during the load (issue 13 asks >= 0.95)
#   missing         online count - target count when the wait ended (negative: duplicates); "same" when the
#                   (tid,bid,aid,delta) multisets of pgbench_history are identical on both sides
#   drain           seconds from the last online commit to the target's last growth (issue 13 asks <= 1 s);
#                   ">N" when it was still growing when the wait gave up
#   cpu/txn         user+system CPU of the replayer's processes from before the load to the end of the wait,
#                   per transaction replayed, in µs (ReplayCluster: coordinator + intercept + capture)
# and prints one line per run and the medians per mode. Nothing runs outside the lab's namespaces.
#
#   idle_cpu%       CPU of the replayer's processes over 3 s before the load, with no traffic (% of one core)
#   load1           the 1-minute load average when the run started: this machine's 2 cores are shared, and a run
#                   next to a busy neighbour measures the neighbour (compare modes at similar load, or use RATE)
# Environment: RUNS (3), MODES ("none tcpcopy replaycluster"), CLIENTS (4), DURATION (10), SCALE (1), QUIET (5),
#   DRAIN_MAX (120), SETTLE (5 s between the replayer's start and its idle measurement), RATE (unset: as fast as it goes; N: pgbench -R N, a fixed online rate that a replayer on a
#   contended machine can be judged against), NO_BUILD (unset: dotnet build -c Release first), KEEP (set: keep the
#   work directory).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
runs=${RUNS:-3}
modes=${MODES:-none tcpcopy replaycluster}
clients=${CLIENTS:-4}
duration=${DURATION:-10}
scale=${SCALE:-1}
quiet=${QUIET:-5}
drain_max=${DRAIN_MAX:-120}
rate=${RATE:-}
settle=${SETTLE:-5}
anchor=${ANCHOR_DIR:-${repo}/../shared/anchor/bin}
lab=${repo}/deploy/lab/lab.sh

if [[ ${EUID} -ne 0 ]]; then
  echo "pgbench-pace.sh: must run as root (network namespaces, raw sockets, libpcap)" >&2
  exit 1
fi
for mode in ${modes}; do
  case ${mode} in
    none | replaycluster) ;;
    tcpcopy) [[ -x ${anchor}/tcpcopy && -x ${anchor}/intercept ]] ||
      { echo "pgbench-pace.sh: no tcpcopy/intercept in ${anchor} (set ANCHOR_DIR)" >&2; exit 1; } ;;
    *) echo "pgbench-pace.sh: unknown mode '${mode}' (none, tcpcopy, replaycluster)" >&2; exit 2 ;;
  esac
done

[[ -n ${NO_BUILD:-} ]] || dotnet build ReplayCluster.sln -c Release -nologo -v quiet >/dev/null
node_dll() { echo "${repo}/src/${1^}/bin/Release/net10.0/replaycluster-$1.dll"; }
for node in coordinator intercept capture; do
  [[ -f $(node_dll "${node}") ]] || { echo "pgbench-pace.sh: $(node_dll "${node}") missing: build Release first" >&2; exit 1; }
done

# The lab state lives here; user postgres must traverse it (mktemp -d makes 0700).
work=$(mktemp -d /tmp/pgbench-pace.XXXXXX)
chmod 755 "${work}"
export LAB_STATE_DIR=${work}/labs
mkdir -p "${LAB_STATE_DIR}"
pids=()
id=""
# stop_pids: TERM the processes this script started (by PID), KILL what is left after 10 s.
stop_pids() {
  local pid i
  for pid in "${pids[@]}"; do kill -TERM "${pid}" 2>/dev/null || true; done
  for ((i = 0; i < 100; i++)); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "${pid}" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "${pid}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "${pid}" 2>/dev/null || true; done
  pids=()
}
cleanup() {
  stop_pids
  [[ -z ${id} ]] || "${lab}" down --id "${id}" >/dev/null 2>&1 || true
  if [[ -n ${KEEP:-} ]]; then echo "work directory kept: ${work}" >&2; else rm -rf "${work}"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for FILE PATTERN SECONDS PID: until a line of FILE matches; fails if PID exits first.
wait_for() {
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    kill -0 "$4" 2>/dev/null || { echo "pgbench-pace.sh: process $4 exited waiting for '$2' in $1:" >&2; tail -20 "$1" >&2; exit 1; }
    sleep 0.1
  done
  echo "pgbench-pace.sh: timed out waiting for '$2' in $1:" >&2
  tail -20 "$1" >&2
  exit 1
}

# start NS LOG COMMAND...: a long-running process in a lab namespace; setsid and ip netns exec both exec, so $! is
# the command's own PID (its CPU is what /proc/PID/stat shows).
start() {
  local ns=$1 log=$2
  shift 2
  setsid ip netns exec "${ns}" "$@" </dev/null >"${log}" 2>&1 &
  pids+=("$!")
  last_pid=$!
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
sum_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(cpu_ticks "${p}"))); done; echo "${t}"; }
clk_tck=$(getconf CLK_TCK)

# sql ROLE QUERY: one query against ROLE's own database, from inside ROLE's namespace (never through a capture).
sql() {
  local ns ip
  if [[ $1 == online ]]; then ns=$(fact NS_ONLINE) ip=$(fact ONLINE_IP); else ns=$(fact NS_TARGET) ip=$(fact TARGET_IP); fi
  ip netns exec "${ns}" "${pg_bin}/psql" -X -Atq -F ' ' -h "${ip}" -p 5432 -U postgres -c "$2" postgres
}
readonly history_digest="select count(*), md5(coalesce(string_agg(tid || ':' || bid || ':' || aid || ':' || delta, ',' order by tid, bid, aid, delta), '')) from pgbench_history"

# run_once MODE RUN: one measured run; appends "mode online_tps target_tps ratio missing drain cpu_us same" to results.
run_once() {
  local mode=$1 run=$2 dir=${work}/${1}.${2}
  mkdir -p "${dir}"
  id="pp$(printf '%05x' $((RANDOM * 32 + RANDOM % 32)))"
  "${lab}" up --id "${id}" --postgres >"${dir}/lab.env" 2>"${dir}/lab.log"
  fact() { sed -n "s/^$1=//p" "${dir}/lab.env"; }
  pg_bin=$(fact PG_BIN)
  local online_ip target_ip
  online_ip=$(fact ONLINE_IP) target_ip=$(fact TARGET_IP)
  ip netns exec "$(fact NS_ONLINE)" "${pg_bin}/pgbench" -i -s "${scale}" -q -h "${online_ip}" -U postgres postgres >"${dir}/init-online.log" 2>&1
  ip netns exec "$(fact NS_TARGET)" "${pg_bin}/pgbench" -i -s "${scale}" -q -h "${target_ip}" -U postgres postgres >"${dir}/init-target.log" 2>&1

  local replayers=() names=()
  case ${mode} in
    tcpcopy)
      start "$(fact NS_ASSISTANT)" "${dir}/intercept.out" "${anchor}/intercept" -i "$(fact SINK_IF)" -F 'tcp and src port 5432' -l "${dir}/intercept.log"
      replayers+=("${last_pid}") names+=(intercept)
      sleep 1
      start "$(fact NS_ONLINE)" "${dir}/tcpcopy.out" "${anchor}/tcpcopy" -x "5432-${target_ip}:5432" -s "$(fact ASSISTANT_IP)" -c 10.200.9.x -l "${dir}/tcpcopy.log"
      replayers+=("${last_pid}") names+=(tcpcopy)
      sleep 2
      kill -0 "${last_pid}" 2>/dev/null || { echo "pgbench-pace.sh: tcpcopy exited:" >&2; cat "${dir}/tcpcopy.log" >&2; exit 1; }
      ;;
    replaycluster)
      start "$(fact NS_TARGET)" "${dir}/coordinator.log" dotnet "$(node_dll coordinator)" --hostname "${target_ip}" --port 4053 \
        --token-file "${work}/api-token"
      replayers+=("${last_pid}") names+=(coordinator)
      wait_for "${dir}/coordinator.log" "Joined cluster as" 45 "${last_pid}"
      start "$(fact NS_ASSISTANT)" "${dir}/intercept.log" dotnet "$(node_dll intercept)" --hostname "$(fact ASSISTANT_IP)" --seed "${target_ip}:4053" -i "$(fact SINK_IF)"
      replayers+=("${last_pid}") names+=(intercept)
      start "$(fact NS_ONLINE)" "${dir}/capture.log" dotnet "$(node_dll capture)" --hostname "$(fact ONLINE_UPLINK_IP)" --seed "${target_ip}:4053" \
        -i "$(fact ONLINE_IF)" -x "5432-${target_ip}:5432" -c "$(fact FAKE_RANGE)" --set "replaycluster.capture.statistics-interval = 1s"
      replayers+=("${last_pid}") names+=(capture)
      wait_for "${dir}/intercept.log" "Joined cluster as" 45 "${replayers[1]}"
      wait_for "${dir}/capture.log" "Capturing on" 45 "${last_pid}"
      ;;
  esac

  # The poller: one psql connection on the target, one count per 200 ms, "epoch count" per line.
  start "$(fact NS_TARGET)" "${dir}/target-poll.txt" bash -c \
    "while :; do echo 'select extract(epoch from clock_timestamp()), count(*) from pgbench_history;'; sleep 0.2; done |
     ${pg_bin}/psql -X -Atq -F ' ' -h ${target_ip} -U postgres postgres"
  local poller=${last_pid}
  # Idle cost of the replayer first (3 s with no load, after SETTLE s for start-up work such as JIT and joining):
  # it is part of every transaction's CPU below.
  sleep "${settle}"
  local idle0 idle
  idle0=$(sum_ticks "${replayers[@]}")
  sleep 3
  idle=$(($(sum_ticks "${replayers[@]}") - idle0))

  local cpu0 load1 throttle=()
  [[ -z ${rate} ]] || throttle=(-R "${rate}")
  load1=$(cut -d ' ' -f 1 /proc/loadavg)
  cpu0=$(sum_ticks "${replayers[@]}")
  local each0=() k
  for k in "${!replayers[@]}"; do each0+=("$(cpu_ticks "${replayers[k]}")"); done
  ip netns exec "$(fact NS_CLIENT)" "${pg_bin}/pgbench" -n -c "${clients}" -T "${duration}" "${throttle[@]}" -l --log-prefix="${dir}/txn" \
    -h "${online_ip}" -U postgres postgres >"${dir}/pgbench.out" 2>&1 ||
    { echo "pgbench-pace.sh: pgbench failed:" >&2; cat "${dir}/pgbench.out" >&2; exit 1; }
  local online_n
  online_n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "${dir}/pgbench.out")

  # Wait for the target to settle (never longer than DRAIN_MAX s after the load).
  local last=-1 same_since=${SECONDS} started=${SECONDS} now gave_up=0
  while :; do
    now=$(tail -n 1 "${dir}/target-poll.txt" | awk '{ print $2 }')
    now=${now:-0}
    if [[ ${now} != "${last}" ]]; then last=${now}; same_since=${SECONDS}; fi
    [[ ${mode} == none ]] && break
    ((now >= online_n && SECONDS - same_since >= 1)) && break
    ((SECONDS - same_since >= quiet)) && break
    ((SECONDS - started >= drain_max)) && { gave_up=1; break; }
    sleep 0.2
  done
  local cpu1
  cpu1=$(sum_ticks "${replayers[@]}")
  # Per process, for the record: "name cpu_seconds" over load + drain.
  for k in "${!replayers[@]}"; do
    echo "${names[k]} $(awk -v t=$(($(cpu_ticks "${replayers[k]}") - each0[k])) -v hz="${clk_tck}" 'BEGIN { printf "%.2f", t / hz }')"
  done >"${dir}/cpu.txt"
  sleep 0.3
  kill -TERM "${poller}" 2>/dev/null || true

  local online_final target_final online_digest target_digest
  read -r online_final online_digest < <(sql online "${history_digest}")
  read -r target_final target_digest < <(sql target "${history_digest}")
  [[ ${online_final} == "${online_n}" ]] ||
    echo "pgbench-pace.sh: note: pgbench reported ${online_n} transactions, the online history holds ${online_final}" >&2
  cp "${dir}"/txn.* "${dir}/txn.log" 2>/dev/null || true
  stop_pids
  "${lab}" down --id "${id}" >/dev/null 2>&1
  id=""

  # Analysis: load window from pgbench's per-transaction log (client_id txn_no latency_us script epoch us), the
  # target's count at the window's end interpolated between polls, the drain from the poll that first saw the final count.
  awk -v mode="${mode}" -v online="${online_final}" -v target="${target_final}" -v ticks=$((cpu1 - cpu0)) -v hz="${clk_tck}" \
      -v same="$([[ ${online_digest} == "${target_digest}" ]] && echo same || echo differs)" -v gave_up="${gave_up}" -v drain_max="${drain_max}" \
      -v load1="${load1}" -v idle="$(awk -v t="${idle}" -v hz="${clk_tck}" 'BEGIN { printf "%.1f", t / hz / 3 * 100 }')" '
    FNR == 1 { file++ }
    file == 1 { end = $5 + $6 / 1e6; start = end - $3 / 1e6
                if (t0 == "" || start < t0) t0 = start
                if (t1 == "" || end > t1) t1 = end; next }
    file == 2 && NF == 2 { n++; ts[n] = $1; c[n] = $2 }
    END {
      window = t1 - t0
      at = 0
      for (i = 1; i <= n; i++) {
        if (ts[i] <= t1) at = c[i]
        else { if (i > 1 && ts[i - 1] <= t1) at = c[i - 1] + (c[i] - c[i - 1]) * (t1 - ts[i - 1]) / (ts[i] - ts[i - 1]); break }
      }
      settled = ""
      for (i = 1; i <= n; i++) if (c[i] == c[n]) { settled = ts[i]; break }
      drain = settled - t1; if (drain < 0) drain = 0
      if (mode == "none") { printf "%s %.0f - - - - - - %s -\n", mode, online / window, load1; exit }
      printf "%s %.0f %.0f %.3f %d %s%.1f %.0f %s %s %s\n", mode, online / window, at / window, at / online, online - target,
        (gave_up ? ">" : ""), (gave_up ? drain_max : drain), (target > 0 ? ticks / hz * 1e6 / target : 0), same, load1, idle
    }' "${dir}/txn.log" "${dir}/target-poll.txt" | tee -a "${work}/results"
}

printf 'pgbench -n -c %s -T %s%s (scale %s) against the online PostgreSQL; %s runs of: %s\n' \
  "${clients}" "${duration}" "${rate:+ -R ${rate}}" "${scale}" "${runs}" "${modes}"
printf '%-14s %10s %10s %7s %8s %7s %10s %8s %6s %s\n' mode online_tps target_tps ratio missing drain_s cpu_us/txn history load1 idle_cpu%
: >"${work}/results"
for run in $(seq "${runs}"); do
  for mode in ${modes}; do
    run_once "${mode}" "${run}" >/dev/null
    tail -n 1 "${work}/results" | awk '{ printf "%-14s %10s %10s %7s %8s %7s %10s %8s %6s %s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 }'
  done
done

echo "medians of ${runs}:"
for mode in ${modes}; do
  awk -v m="${mode}" '$1 == m' "${work}/results" | awk '
    { for (k = 2; k <= 7; k++) v[k, NR] = $k; v[9, NR] = $9; v[10, NR] = $10; h = h (h == "" ? "" : ",") $8 }
    # A value marked ">" (the wait gave up) is a lower bound: so is the median when most runs gave up.
    function median(k,   i, j, a, t, s, capped) {
      if (v[k, 1] == "-") return "-"
      for (i = 1; i <= NR; i++) { s = v[k, i]; if (sub(/^>/, "", s)) capped++; a[i] = s + 0 }
      for (i = 1; i <= NR; i++) for (j = i + 1; j <= NR; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      return (capped * 2 > NR ? ">" : "") a[int((NR + 1) / 2)]
    }
    END { printf "%-14s %10s %10s %7s %8s %7s %10s %8s %6s %s\n", $1, median(2), median(3), median(4), median(5), median(6), median(7), h, median(9), median(10) }'
done
echo "replayer CPU seconds per process over load + drain:"
for run in $(seq "${runs}"); do
  for mode in ${modes}; do
    [[ -s ${work}/${mode}.${run}/cpu.txt ]] || continue
    printf '  %-14s run %s: %s\n' "${mode}" "${run}" "$(tr '\n' ' ' <"${work}/${mode}.${run}/cpu.txt")"
  done
done
