#!/usr/bin/env bash
# Publishes the three nodes as self-contained single-file linux-x64 executables, each in its own
# folder with the reference HOCON beside it (the nodes read hocon/ next to their binary):
#   OUTPUT/coordinator/replaycluster-coordinator, OUTPUT/capture/..., OUTPUT/intercept/...
# With --setcap, the capture and intercept binaries get CAP_NET_RAW and CAP_NET_ADMIN so they run
# without root (needs root to apply; capabilities are not kept when the files are copied).
set -euo pipefail
cd "$(dirname "$0")/.."

output=artifacts/publish
setcap_nodes=false
while (($# > 0)); do
  case $1 in
    --output) output=$2; shift 2 ;;
    --setcap) setcap_nodes=true; shift ;;
    -h | --help)
      sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
      echo "usage: deploy/publish.sh [--output DIR] [--setcap]"
      exit 0 ;;
    *) echo "publish.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

# One publish of the three node projects (deploy/nodes.slnf): one MSBuild process restores once and builds them side
# by side, 27 s where a `dotnet publish` per node in turn took 68-73 s (2-core VM, 2026-12-02, fresh builds). A
# solution's publish takes no --output, so each project publishes to its own folder and is copied from there; those
# folders are emptied first, so nothing of an older publish comes along.
nodes=(coordinator capture intercept)
for node in "${nodes[@]}"; do
  rm -rf "src/${node^}/bin/Release/net10.0/linux-x64/publish"
done
dotnet publish deploy/nodes.slnf -c Release -r linux-x64 --self-contained -p:PublishSingleFile=true \
  -p:DebugType=none -p:GenerateDocumentationFile=false -nologo -v quiet
for node in "${nodes[@]}"; do
  published="src/${node^}/bin/Release/net10.0/linux-x64/publish"
  [[ -x ${published}/replaycluster-${node} ]] || { echo "publish.sh: ${published}/replaycluster-${node} is missing" >&2; exit 1; }
  rm -rf "${output:?}/${node}"
  mkdir -p "${output}/${node}"
  cp -a "${published}/." "${output}/${node}/"
  echo "published ${output}/${node}/replaycluster-${node}"
done

if [[ ${setcap_nodes} == true ]]; then
  for node in capture intercept; do
    setcap cap_net_raw,cap_net_admin+ep "${output}/${node}/replaycluster-${node}"
    echo "capabilities: $(getcap "${output}/${node}/replaycluster-${node}")"
  done
fi
