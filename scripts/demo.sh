#!/usr/bin/env bash
# The README tour on a real data plane, for a newcomer with root: a private Open vSwitch, two
# VPC bridges with one instance each (a network namespace), vpc-peerd on them; ping fails, the
# peering is requested and accepted, ping works, the flows are shown, the peering is deleted,
# ping fails again. Everything it starts is stopped on exit, by pid, even on failure.
#
#   npm ci && npm run build && sudo scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" -eq 0 ] || { echo "run as root (network namespaces, Open vSwitch)" >&2; exit 1; }
for bin in ovs-vsctl ovs-ofctl ip ping node; do
  command -v "$bin" >/dev/null || { echo "missing $bin: apt-get install openvswitch-switch iproute2 iputils-ping" >&2; exit 1; }
done
[ -f dist/src/main.js ] || { echo "build first: npm ci && npm run build" >&2; exit 1; }

work=$(mktemp -d /tmp/vpc-peerd-demo-XXXXXX)
sandbox=$work/ovs
tag=$(head -c 2 /dev/urandom | od -An -tx1 | tr -d ' \n')
ns_a=demo-a-$tag ns_b=demo-b-$tag br_a=br-a-$tag br_b=br-b-$tag
daemon_pid=

cleanup() {
  local rc=$?
  set +e
  if [ "$rc" -ne 0 ] && [ -f "$work/daemon.log" ]; then
    echo "--- the daemon's log:" >&2
    tail -n 30 "$work/daemon.log" >&2
  fi
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
  ip netns del "$ns_a" 2>/dev/null
  ip netns del "$ns_b" 2>/dev/null
  [ -d "$sandbox" ] && scripts/ovs-sandbox.sh stop "$sandbox" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# Bold headings on a terminal only, and never with NO_COLOR (https://no-color.org).
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "A private Open vSwitch (userspace datapath) in $sandbox"
# OVS prints its own log lines while it starts: kept in a file, shown only if the start fails.
scripts/ovs-sandbox.sh start "$sandbox" >"$work/ovs-start.log" 2>&1 || { cat "$work/ovs-start.log" >&2; exit 1; }
export OVS_RUNDIR=$sandbox
vswitchd_ns=$(head -n 1 "$sandbox/namespaces")

# A VPC bridge as the platform would make it: netdev, fail_mode=secure, and its own L2 flow.
# An instance: a namespace with a veth into the bridge, an address, and an on-link route to the
# other VPC (v1 steers at L2: instances reach peered CIDRs on-link, no router in between).
make_vpc() { # bridge ns v4 peer-cidr
  ovs-vsctl add-br "$1" -- set bridge "$1" datapath_type=netdev fail_mode=secure
  ovs-ofctl add-flow "$1" 'cookie=0x1234,priority=0,actions=NORMAL'
  ip netns add "$2"
  # The bridge's end lives in ovs-vswitchd's own namespace: that is where the netdev datapath
  # opens its ports.
  ip link add "v$2" netns "$vswitchd_ns" type veth peer name eth0 netns "$2"
  ip -n "$vswitchd_ns" link set "v$2" up
  ovs-vsctl add-port "$1" "v$2"
  ip -n "$2" addr add "$3" dev eth0
  ip -n "$2" link set eth0 up
  ip -n "$2" link set lo up
  ip -n "$2" route add "$4" dev eth0
}
make_vpc "$br_a" "$ns_a" 10.0.0.2/16 10.1.0.0/16
make_vpc "$br_b" "$ns_b" 10.1.0.2/16 10.0.0.0/16

step "vpc-peerd on that Open vSwitch"
cat >"$work/config.json" <<EOF
{ "nodeId": "demo", "socket": { "path": "./vpc-peerd.sock" }, "store": { "path": "./state.json" },
  "ovs": { "enabled": true, "rundir": "$sandbox" }, "auth": { "adminTokenFile": "./admin.token" },
  "log": { "level": "info" } }
EOF
node dist/src/main.js --config "$work/config.json" >"$work/daemon.log" 2>&1 &
daemon_pid=$!
ctl() { node dist/src/cli/main.js --config "$work/config.json" "$@"; }
for _ in $(seq 1 200); do ctl status >/dev/null 2>&1 && break; sleep 0.05; done
run ctl status

step "Two VPCs of one tenant"
run ctl vpc create --id vpc-a --tenant acme --cidr 10.0.0.0/16 --bridge "$br_a"
run ctl vpc create --id vpc-b --tenant acme --cidr 10.1.0.0/16 --bridge "$br_b"

ping_b() { ip netns exec "$ns_a" ping -c 2 -W 1 10.1.0.2 >/dev/null 2>&1; }
step "Before peering: instance A pings 10.1.0.2 (instance B)"
if ping_b; then echo "unexpected: A reached B before any peering" >&2; exit 1; fi
echo "no reply: the VPCs are isolated"

step "Request and accept a peering"
id=$(ctl --json peering create --requester vpc-a --accepter vpc-b | node -e 'process.stdin.on("data",d=>console.log(JSON.parse(d).id))')
run ctl peering accept "$id"
for _ in $(seq 1 100); do
  ctl --json peering get "$id" | grep -Eq '"state": *"programmed"' && break
  sleep 0.05
done
run ctl peering get "$id"

step "After accept: instance A pings instance B"
if ping_b; then echo "replies: A reaches B"; else echo "no reply: something is wrong" >&2; exit 1; fi

step "The flows vpc-peerd installed on $br_a (cookie 0x5ee0...)"
run ovs-ofctl dump-flows "$br_a" cookie=0x5ee0000000000000/0xffff000000000000 --no-stats --names

step "Delete the peering"
run ctl peering delete "$id"
for _ in $(seq 1 100); do
  [ -z "$(ovs-ofctl dump-flows "$br_a" cookie=0x5ee0000000000000/0xffff000000000000 --no-stats)" ] && break
  sleep 0.05
done
if ping_b; then echo "unexpected: A still reaches B" >&2; exit 1; fi
echo "no reply: isolated again, and no flow of ours is left"
step "Done; everything started here is being stopped"
