#!/usr/bin/env bash
# capture-rate.sh - how many packets/s LiveCapture + PacketParser handle on one core, measured in a lab.
#
# Builds a namespace lab (deploy/lab/lab.sh, torn down on exit), then RUNS times:
#   1. `capture-rate` (bench/ReplayCluster.Benchmarks) pinned with `taskset -c CORE` in the online namespace on
#      ONLINE_IF, once per reader in READERS, while wrk -t1 -cCONNECTIONS keep-alive hammers the online nginx from
#      the client for LOAD seconds;
#   2. the same with `tcpdump -w /dev/null` (same core, same 64 MiB buffer) as the reference.
# Prints one line per phase and the medians (CPU per packet and peak RSS per reader). Nothing runs outside the
# lab's namespaces.
#
# Environment: RUNS (3), LOAD (10 seconds of wrk), CONNECTIONS (16), CORE (1), READERS ("libpcap ring"),
# BUFFER_MIB (64: our capture buffer; tcpdump's stays 64 MiB).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
runs=${RUNS:-3}
load=${LOAD:-10}
connections=${CONNECTIONS:-16}
core=${CORE:-1}
readers=${READERS:-libpcap ring}
buffer_mib=${BUFFER_MIB:-64}

if [[ ${EUID} -ne 0 ]]; then
  echo "capture-rate.sh: must run as root (network namespaces, libpcap)" >&2
  exit 1
fi

command -v taskset >/dev/null || apt-get install -y util-linux >/dev/null
dotnet build bench/ReplayCluster.Benchmarks -c Release -nologo -v quiet >/dev/null
dll="${repo}/bench/ReplayCluster.Benchmarks/bin/Release/net10.0/ReplayCluster.Benchmarks.dll"

id="cr$(printf '%05x' $((RANDOM * 32 + RANDOM % 32)))"
work=$(mktemp -d /tmp/capture-rate.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -KILL "${pid}" 2>/dev/null || true; done
  "${repo}/deploy/lab/lab.sh" down --id "${id}" >/dev/null 2>&1 || true
  rm -rf "${work}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"${repo}/deploy/lab/lab.sh" up --id "${id}" >"${work}/lab.env"
fact() { sed -n "s/^$1=//p" "${work}/lab.env"; }
ns_online=$(fact NS_ONLINE)
ns_client=$(fact NS_CLIENT)
online_if=$(fact ONLINE_IF)
online_ip=$(fact ONLINE_IP)
clk_tck=$(getconf CLK_TCK)
echo "lab ${id}: capture on ${ns_online}/${online_if} pinned to core ${core}; wrk -t1 -c${connections} -d${load}s http://${online_ip}/ from ${ns_client}"

# wait_for FILE PATTERN: until a line matches (at most 30 s).
wait_for() {
  for _ in $(seq 300); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "capture-rate.sh: timed out waiting for '$2' in $1" >&2
  cat "$1" >&2
  exit 1
}

# cpu_ticks PID: utime + stime of a process, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# run_wrk OUT: the load; prints "requests rps seconds".
run_wrk() {
  ip netns exec "${ns_client}" wrk -t1 -c"${connections}" -d"${load}s" "http://${online_ip}/" >"$1"
  awk '/requests in/ { n = $1; t = $4; sub(/s,?$/, "", t) } /Requests\/sec/ { r = $2 } END { print n, r, t }' "$1"
}

results="${work}/results"
: >"${results}"
for run in $(seq "${runs}"); do
  for reader in ${readers}; do
  out="${work}/${reader}.${run}"
  ip netns exec "${ns_online}" taskset -c "${core}" dotnet "${dll}" capture-rate --interface "${online_if}" --seconds $((load + 3)) \
    --reader "${reader}" --buffer-mib "${buffer_mib}" >"${out}" 2>&1 &
  pid=$!
  pids+=("${pid}")
  wait_for "${out}" "capturing on"
  read -r requests rps wrk_seconds < <(run_wrk "${work}/wrk.${reader}.${run}")
  wait "${pid}"
  line=$(grep '^packets=' "${out}")
  get() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"${line}"; }
  packets=$(get packets)
  ours_rate=$(awk -v p="${packets}" -v t="${wrk_seconds}" 'BEGIN { printf "%.0f", p / t }')
  echo "run ${run} ${reader}: wrk ${requests} req (${rps} req/s); captured ${packets} pkts = ${ours_rate} pkt/s over wrk's ${wrk_seconds} s (own window: $(get packets_per_second) pkt/s); parse rejects $(get parse_rejects) $(grep '^rejects:' "${out}" || true); kernel drops $(get kernel_dropped); cpu $(get cpu_seconds) s = $(get packets_per_cpu_second) pkt per cpu-second; peak RSS $(get peak_rss_mb) MB"
  echo "${reader} ${ours_rate} $(get kernel_dropped) $(get packets_per_cpu_second) ${rps} $(get peak_rss_mb)" >>"${results}"
  done

  # --- tcpdump reference
  err="${work}/tcpdump.${run}"
  ip netns exec "${ns_online}" taskset -c "${core}" tcpdump -i "${online_if}" -n -B 65536 -w /dev/null 2>"${err}" &
  pid=$!
  pids+=("${pid}")
  wait_for "${err}" "listening on"
  ticks0=$(cpu_ticks "${pid}")
  read -r requests rps wrk_seconds < <(run_wrk "${work}/wrk.tcpdump.${run}")
  sleep 0.5
  ticks1=$(cpu_ticks "${pid}")
  kill -INT "${pid}"
  wait "${pid}" || true
  captured=$(awk '/packets captured/ { print $1 }' "${err}")
  dropped=$(awk '/dropped by kernel/ { print $1 }' "${err}")
  cpu=$(awk -v a="${ticks0}" -v b="${ticks1}" -v h="${clk_tck}" 'BEGIN { printf "%.3f", (b - a) / h }')
  td_rate=$(awk -v p="${captured}" -v t="${wrk_seconds}" 'BEGIN { printf "%.0f", p / t }')
  td_per_cpu=$(awk -v p="${captured}" -v c="${cpu}" 'BEGIN { printf "%.0f", (c > 0 ? p / c : 0) }')
  echo "run ${run} tcpdump: wrk ${requests} req (${rps} req/s); captured ${captured} pkts = ${td_rate} pkt/s over wrk's ${wrk_seconds} s; kernel drops ${dropped}; cpu ${cpu} s = ${td_per_cpu} pkt per cpu-second"
  echo "tcpdump ${td_rate} ${dropped} ${td_per_cpu} ${rps} -" >>"${results}"
done

median() { grep "^$1 " "${results}" | awk -v c="$2" '{ print $c }' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for tool in ${readers} tcpdump; do
  echo "median ${tool} (${runs} runs): $(median "${tool}" 2) pkt/s, kernel drops $(median "${tool}" 3), $(median "${tool}" 4) pkt per cpu-second, wrk $(median "${tool}" 5) req/s, peak RSS $(median "${tool}" 6) MB"
done
