#!/usr/bin/env bash
# fuzz.sh - mutated inputs through the node's decoders; no crash, every rejection counted (issue 10).
#
#   bench/fuzz.sh [--packets N] [--frames N] [--pcap-files N] [--seed S] [--no-build] [--out FILE]
#
# Runs `ReplayCluster.Benchmarks fuzz` (bench/ReplayCluster.Benchmarks/Fuzz): N captured frames (default 10^7)
# through PacketParser as the capture and intercept nodes call it, N capture files (default 10^4) through
# PcapFileReader and the replay clock, N cluster payloads (default 10^6) through every serializer a peer can make a
# node run (ours, the unbound json stand-in, Akka's misc and system-message serializers behind their guards).
# Prints a summary table (counts by outcome and reason, time, largest allocation per input) and exits non-zero when
# any input crashed a decoder (1; the first inputs are printed in hex) or hung one (3). Needs no root and no network:
# the cluster part binds one actor system to a loopback port; capture files go to a scratch directory in TMPDIR
# (/dev/shm when writable, so the file part measures the reader rather than the disk).
#
# --out FILE also writes the output to FILE (e.g. bench/results/fuzz.txt), headed by the command and the commit.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

build=1
out=""
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --packets|--frames|--pcap-files|--seed)
      [[ $# -ge 2 ]] || { echo "fuzz.sh: $1 needs a value" >&2; exit 2; }
      args+=("$1" "$2"); shift 2 ;;
    --no-build) build=0; shift ;;
    --out)
      [[ $# -ge 2 ]] || { echo "fuzz.sh: --out needs a file" >&2; exit 2; }
      out=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fuzz.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done

if [[ ${build} -eq 1 ]]; then
  dotnet build bench/ReplayCluster.Benchmarks -c Release -nologo -v quiet >/dev/null
fi
dll="${repo}/bench/ReplayCluster.Benchmarks/bin/Release/net10.0/ReplayCluster.Benchmarks.dll"
[[ -f ${dll} ]] || { echo "fuzz.sh: ${dll} is missing; run without --no-build" >&2; exit 2; }

if [[ -z ${TMPDIR:-} && -d /dev/shm && -w /dev/shm ]]; then
  export TMPDIR=/dev/shm
fi

run() { /usr/bin/time -f "fuzz.sh: wall %e s, user %U s, sys %S s, max RSS %M KB" dotnet "${dll}" fuzz "${args[@]}"; }
if [[ -n ${out} ]]; then
  mkdir -p "$(dirname "${out}")"
  {
    echo "# bench/fuzz.sh ${args[*]}  (commit $(git -C "${repo}" rev-parse --short HEAD 2>/dev/null || echo unknown), $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs shared)"
  } >"${out}"
  set +e
  run 2>&1 | tee -a "${out}"
  status=${PIPESTATUS[0]}
  set -e
  exit "${status}"
fi
run
