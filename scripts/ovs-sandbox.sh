#!/usr/bin/env bash
# A private Open vSwitch in DIR, for a human: the same layout as the test harness
# (test/helpers/ovs.ts), so `stop` also cleans up a sandbox left behind by a killed test.
#
#   scripts/ovs-sandbox.sh start DIR   ovsdb-server + ovs-vswitchd (in a network namespace of its
#                                      own: two userspace datapaths cannot share one)
#   scripts/ovs-sandbox.sh env DIR     prints the exports that point ovs-vsctl/ovs-ofctl (and
#                                      vpc-peerd's ovs.rundir) at it: eval "$(... env DIR)"
#   scripts/ovs-sandbox.sh stop DIR    kills the daemons (by their pidfiles, only if they are this
#                                      sandbox's), deletes the namespaces listed in DIR/namespaces,
#                                      removes DIR
#
# Bridges must be datapath_type=netdev (no kernel module needed). Needs root.
set -euo pipefail

usage() { echo "usage: $0 start|stop|env DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
dir=$(realpath -m -- "$2")
schema=/usr/share/openvswitch/vswitch.ovsschema
export OVS_RUNDIR=$dir OVS_LOGDIR=$dir OVS_DBDIR=$dir

need() {
  local missing=()
  for bin in ovsdb-tool ovsdb-server ovs-vswitchd ovs-vsctl ovs-appctl ip; do
    command -v "$bin" >/dev/null || missing+=("$bin")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "missing ${missing[*]}: install openvswitch-switch iproute2 iputils-ping" >&2
    exit 1
  fi
  [ "$(id -u)" -eq 0 ] || { echo "run as root (namespaces)" >&2; exit 1; }
}

# Waits up to 10 s for a command to succeed (no fixed sleeps).
until_ok() {
  local what=$1; shift
  for _ in $(seq 1 500); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.02
  done
  echo "$what: not ready after 10 s (see $dir/*.log)" >&2
  return 1
}

# The pid in DIR/NAME.pid, if that process runs and its environment names this DIR.
our_pid() {
  local pid
  pid=$(cat "$dir/$1.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && [ -r "/proc/$pid/environ" ] || return 1
  tr '\0' '\n' <"/proc/$pid/environ" | grep -qx "OVS_RUNDIR=$dir" || return 1
  echo "$pid"
}

stop_daemon() {
  local pid
  pid=$(our_pid "$1") || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 250); do
    [ -d "/proc/$pid" ] || return 0
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] && return 0
    sleep 0.02
  done
  kill -KILL "$pid" 2>/dev/null || true
}

case $cmd in
  start)
    need
    if [ -e "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
      echo "$dir exists and is not empty" >&2; exit 1
    fi
    mkdir -p "$dir"
    ns="ovs-$(head -c 3 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    echo "$ns" >"$dir/namespaces"
    ovsdb-tool create "$dir/conf.db" "$schema"
    ovsdb-server "$dir/conf.db" --remote="punix:$dir/db.sock" --pidfile --detach --log-file -vconsole:off
    until_ok "ovsdb-server" ovs-vsctl --no-wait init
    ip netns add "$ns"
    ip netns exec "$ns" ovs-vswitchd --pidfile --detach --log-file -vconsole:off
    until_ok "ovs-vswitchd" ovs-appctl -t ovs-vswitchd version
    echo "OVS sandbox running in $dir (vswitchd in netns $ns). Bridges: datapath_type=netdev." >&2
    echo "export OVS_RUNDIR=$dir"
    ;;
  env)
    echo "export OVS_RUNDIR=$dir OVS_LOGDIR=$dir OVS_DBDIR=$dir"
    ;;
  stop)
    # Only a folder with a sandbox's files is removed (never a mistyped path).
    [ -f "$dir/conf.db" ] || [ -f "$dir/namespaces" ] || { echo "no sandbox at $dir" >&2; exit 1; }
    stop_daemon ovs-vswitchd
    stop_daemon ovsdb-server
    if [ -f "$dir/namespaces" ]; then
      while read -r ns; do
        [ -n "$ns" ] && ip netns del "$ns" 2>/dev/null || true
      done <"$dir/namespaces"
    fi
    rm -rf -- "$dir"
    ;;
  *) usage ;;
esac
