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

for node in coordinator capture intercept; do
  project="src/${node^}/ReplayCluster.${node^}.csproj"
  rm -rf "${output:?}/${node}"
  dotnet publish "${project}" -c Release -r linux-x64 --self-contained -p:PublishSingleFile=true \
    -p:DebugType=none -p:GenerateDocumentationFile=false -o "${output}/${node}" -nologo -v quiet
  echo "published ${output}/${node}/replaycluster-${node}"
done

if [[ ${setcap_nodes} == true ]]; then
  for node in capture intercept; do
    setcap cap_net_raw,cap_net_admin+ep "${output}/${node}/replaycluster-${node}"
    echo "capabilities: $(getcap "${output}/${node}/replaycluster-${node}")"
  done
fi
