#!/usr/bin/env bash
# Runs every ReplayCluster test: unit and actor tests, then the lab tests on real network namespaces,
# nginx, wrk, libpcap and raw sockets. Needs root. Installs its prerequisites first (idempotent).
# Ends with one plain line: "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

if [[ ${EUID} -ne 0 ]]; then
  echo "tests/run.sh: must run as root: the lab tests create network namespaces, open raw sockets and capture with libpcap. Try: sudo tests/run.sh" >&2
  exit 1
fi

deploy/install-prereqs.sh

# Every lab this run creates registers under this folder; whatever a crashed test leaves is torn down
# below, and only that: namespaces of other runs are not ours to touch.
export LAB_STATE_DIR
LAB_STATE_DIR=$(mktemp -d /tmp/replaycluster-test-labs.XXXXXX)
# mktemp makes it 0700; nginx workers (an unprivileged user) must read the lab's web root inside it.
chmod 755 "${LAB_STATE_DIR}"
results="${repo}/artifacts/test-results"
rm -rf "${results}"
mkdir -p "${results}"

# The unit-test runs started in the background (below): stopped with us, by PID.
pids=()

# The C# compiler runs as a server: one warm process compiles every project of the build, and the lab tests' builds
# (deploy/publish.sh's three publishes, demo.sh's check) after it, instead of a fresh csc per project that compiles
# the compiler first. A clean build of the solution took 89 and 102 s with UseSharedCompilation=false (this
# machine's environment sets it) and 55 and 60 s with the server (2-core VM, 2026-12-02). The server is stopped on
# exit, with the rest of what this run started.
export UseSharedCompilation=true

# shellcheck disable=SC2317 # runs from the EXIT trap
cleanup() {
  dotnet build-server shutdown >/dev/null 2>&1 || true
  for pid in "${pids[@]}"; do
    pkill -TERM -P "${pid}" 2>/dev/null || true
    kill "${pid}" 2>/dev/null || true
  done
  if [[ -d ${LAB_STATE_DIR} ]]; then
    for lab in "${LAB_STATE_DIR}"/*/; do
      [[ -d ${lab} ]] || continue
      "${repo}/deploy/lab/lab.sh" down --id "$(basename "${lab}")" >/dev/null 2>&1 || true
    done
    rm -rf "${LAB_STATE_DIR}"
  fi
  [[ -z ${lab_nodes:-} ]] || rm -rf "${lab_nodes}"
}
trap cleanup EXIT

start=$(date +%s)
dotnet build ReplayCluster.sln -c Release -nologo -v quiet

status=0
# run_tests PROJECT: one test project, its trx in the results folder. A hung test must not eat the CI budget: dump
# and stop it after 10 minutes.
run_tests() {
  local name
  name=$(basename "$1")
  dotnet test "$1" -c Release --no-build -nologo \
    --logger "trx;LogFileName=${name}.trx" --logger "console;verbosity=normal" \
    --results-directory "${results}" --blame-hang-timeout 10m
}

# The four unit-test projects run side by side (132 s one after the other on the 2-core lab machine, 80 s together,
# 2026-12-01): none shares a port, a namespace or a file with another. Specs that lean on timing (in-process
# clusters and their failure detector) passed 6 rounds of all four beside two or three busy loops after one fix
# (a leaving member's unreachability). Each one's output is printed whole when it ends. The lab tests come after,
# alone: their measured tests need the machine to themselves.
unit=(tests/ReplayCluster.Shared.Tests tests/ReplayCluster.Capture.Tests tests/ReplayCluster.Intercept.Tests tests/ReplayCluster.Coordinator.Tests)
for project in "${unit[@]}"; do
  run_tests "${project}" >"${results}/$(basename "${project}").log" 2>&1 &
  pids+=($!)
done

# Beside them (they keep the two cores ~67 % busy), the three nodes precompiled (ReadyToRun, framework-dependent) for
# the lab tests: most of a lab test's CPU is its nodes starting, and most of a start is the JIT (perf of a three-node
# test, 2026-12-03: JIT and type loading ~65 % of each node's CPU). The lab tests that measure latencies, pace or
# drains still run the build output, as users run it (tests/ReplayCluster.Lab.Tests/Nodes/NodeProcess.cs,
# PrecompiledFolder). Into a folder of this run's own; if it fails, the lab runs the build output and says so.
# tests/precompile-lab-nodes.sh compiles each distinct assembly of this build once: the ReadyToRun publish it replaces
# compiled the seven projects again for linux-x64 and every shared assembly three times (a clean clone: 73 s and 132 s
# of CPU against 29 s and 45 s, 2026-12-03), and finished 29-50 s after the unit tests in full suites.
lab_nodes=$(mktemp -d /tmp/replaycluster-lab-nodes.XXXXXX)
chmod 755 "${lab_nodes}"
precompile_lab_nodes() {
  # At the lowest priority: the unit tests keep the CPU they had without it (two of their timing specs failed once
  # beside a publish at normal priority, 2026-12-03), the compilation takes what they leave.
  nice -n 19 tests/precompile-lab-nodes.sh "${lab_nodes}"
}
precompile_lab_nodes >"${results}/lab-nodes-precompile.log" 2>&1 &
precompile_pid=$!
pids+=("${precompile_pid}")

for i in "${!unit[@]}"; do
  wait "${pids[i]}" || status=1
  unset 'pids[i]' # reaped: its PID is no longer ours
  echo "== $(basename "${unit[i]}")"
  cat "${results}/$(basename "${unit[i]}").log"
done

echo "== ReplayCluster.Lab.Tests"
precompile_started=$(date +%s)
if wait "${precompile_pid}"; then
  export REPLAYCLUSTER_LAB_PRECOMPILED="${lab_nodes}"
  echo "lab nodes precompiled in ${lab_nodes} (waited $(($(date +%s) - precompile_started)) s after the unit tests)"
else
  echo "lab nodes NOT precompiled (the lab runs the build output):"
  cat "${results}/lab-nodes-precompile.log"
fi
pids=() # every process started above is reaped
run_tests tests/ReplayCluster.Lab.Tests || status=1

passed=0
failed=0
for trx in "${results}"/*.trx; do
  [[ -f ${trx} ]] || continue
  # A test host that crashed may leave a trx without counters: that must not end this script early.
  counters=$(grep -o '<Counters [^>]*>' "${trx}" | head -n 1 || true)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"${counters}")
  f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"${counters}")
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
done

echo "suite time: $(($(date +%s) - start)) s"
# The failures again, by name, right above the summary: CI keeps only the tail of a long log, and a unit
# project's failure is printed minutes before it.
for trx in "${results}"/*.trx; do
  [[ -f ${trx} ]] || continue
  grep -o '<UnitTestResult [^>]*outcome="Failed"[^>]*>' "${trx}" | sed -n 's/.* testName="\([^"]*\)".*/failed: \1/p' || true
done
if [[ ${status} -ne 0 && ${failed} -eq 0 ]]; then
  # A test host that crashed or hung writes no failure counter; count it so the line never lies.
  failed=1
fi
echo "${passed} passed, ${failed} failed"
exit "${status}"
