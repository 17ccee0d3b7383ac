#!/usr/bin/env bash
# setup.sh — print the path of a kubectl from Debian's kubernetes-client
# package (bookworm: 1.20), the one CI can have. An installed
# kubernetes-client is used as it is; otherwise (e.g. a machine whose
# /usr/bin/kubectl comes from elsewhere and conflicts with the package) the
# package is fetched with `apt-get download` (Debian's registry, the
# ordinary client) and unpacked into ./.kubectl (gitignored). A kubectl that
# is not Debian's is never used.
set -euo pipefail
cd "$(dirname "$0")"
if [ "$(dpkg-query -W -f='${Status}' kubernetes-client 2>/dev/null)" = "install ok installed" ]; then
  command -v kubectl; exit 0
fi
if [ ! -x .kubectl/usr/bin/kubectl ]; then
  rm -rf .kubectl .dl && mkdir -p .dl
  (cd .dl && apt-get download kubernetes-client >&2 2>/dev/null) ||
    { echo "setup.sh: apt-get download kubernetes-client failed (run apt-get update)" >&2; exit 1; }
  dpkg-deb -x .dl/kubernetes-client_*.deb .kubectl
  rm -rf .dl
fi
echo "$PWD/.kubectl/usr/bin/kubectl"
