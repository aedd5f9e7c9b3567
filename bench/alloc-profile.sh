#!/usr/bin/env bash
# alloc-profile.sh - where a node's allocations come from under one load of bench/sidebyside.sh.
#
# Runs one point of bench/sidebyside.sh in ReplayCluster mode (its lab, nodes and teardown), attaches dotnet-trace
# to the chosen node once the measured load's wrk is running (the GC provider at verbose level: an AllocationTick
# event about every 100 KB a thread allocates, with its type and stack), and prints the sampled bytes by type, by
# the first ReplayCluster frame and by stack (bench/alloc-profile/Program.cs). Bytes per request come from the
# node's own process_allocated_bytes in its statistics lines (printed at the end, for the capture node).
#
#   sudo bench/alloc-profile.sh                           # keepalive, the capture node
#   sudo POINT=short1k NODE=intercept bench/alloc-profile.sh
#
# Environment: POINT (keepalive; any point sidebyside.sh knows), NODE (capture | intercept | coordinator),
# SECONDS_TRACED (7), OUT (a new temporary folder; the run folder, trace and report stay there), TOP (20 rows).
# Installs dotnet-trace into OUT's parent tool folder (/tmp/replaycluster-dntools) if missing; needs the Release
# build (sidebyside.sh --no-build) and root, as sidebyside.sh does.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
point=${POINT:-keepalive}
node=${NODE:-capture}
traced=${SECONDS_TRACED:-7}
top=${TOP:-20}
out=${OUT:-$(mktemp -d /tmp/alloc-profile.XXXXXX)}
tools=/tmp/replaycluster-dntools
mkdir -p "${out}"

if [[ ! -x ${tools}/dotnet-trace ]]; then
  dotnet tool install --tool-path "${tools}" dotnet-trace >/dev/null
fi
dotnet build "${repo}/bench/alloc-profile/AllocProfile.csproj" -c Release -nologo -v quiet -o "${out}/analyzer" >/dev/null

"${repo}/bench/sidebyside.sh" --no-build --modes replaycluster --points "${point}" --reps 1 --duration $((traced + 3)) \
  --idle 2 --settle 2 --drain-quiet 3 --run-dir "${out}/run" >"${out}/sidebyside.log" 2>&1 &
bench=$!
trap 'kill "${bench}" 2>/dev/null || true' EXIT

# The measured load: the second wrk of the run (the first is the warm-up's), while the node runs.
pid=""
for _ in $(seq 1 900); do
  if [[ -s ${out}/run/1-${point}-replaycluster/wrk-warmup.txt ]] && pgrep -x wrk >/dev/null; then
    pid=$(pgrep -f "replaycluster-${node}.dll" | head -1 || true)
    [[ -n ${pid} ]] && break
  fi
  sleep 0.2
done
if [[ -z ${pid} ]]; then
  echo "alloc-profile: the measured load never started (see ${out}/sidebyside.log)" >&2
  exit 1
fi

timeout $((traced + 60)) "${tools}/dotnet-trace" collect -p "${pid}" --providers Microsoft-Windows-DotNETRuntime:0x1:5 \
  --duration "00:00:00:$(printf '%02d' "${traced}")" -o "${out}/${node}.nettrace" >"${out}/trace.log" 2>&1
wait "${bench}"
trap - EXIT

dotnet "${out}/analyzer/AllocProfile.dll" "${out}/${node}.nettrace" "${top}" | tee "${out}/report.txt"
if [[ ${node} == capture ]]; then
  # Bytes per captured request over the node's life from its first request (warm-up included).
  awk '/Capture statistics:/ {
         for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "process_allocated_bytes") a = kv[2]; if (kv[1] == "requests_captured") r = kv[2] }
         if (r > 0 && first == "") { first = a; firstr = r } last = a; lastr = r }
       END { if (lastr > firstr) printf "bytes allocated per captured request: %.0f (%d requests)\n", (last - first) / (lastr - firstr), lastr - firstr }' \
    "${out}/run/1-${point}-replaycluster/capture.out" | tee -a "${out}/report.txt"
fi
echo "alloc-profile: ${out}"
