#!/usr/bin/env bash
# The README's test command (`npm test`, also what .ci/run runs): brings what the tests need,
# then builds and runs them. System packages the real-OVS, namespace and service tests use are
# installed with apt-get when missing (root on Debian/Ubuntu); otherwise they are named, and the
# tests that need them fail saying so. node_modules is installed only when absent.
# Extra arguments go to tap (`npm test -- test/unit/domain`).
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/setup.sh
ensure_packages test.sh ovs-vsctl:openvswitch-switch ip:iproute2 ping:iputils-ping \
  systemd-analyze:systemd zsh:zsh man:man-db openssl:openssl "${BUILD_PACKAGES[@]}" || echo "test.sh: the tests that need them will fail" >&2
if [ "$(id -u)" -ne 0 ]; then
  echo "test.sh: not root: the tests that start Open vSwitch and network namespaces need root and will fail" >&2
fi
ensure_node_modules test.sh || exit 1
echo "test.sh: building" >&2
npm run build --silent || exit 1
exec npx tap "$@"
