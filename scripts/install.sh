#!/usr/bin/env bash
# Installs vpc-peerd from this checkout (built: npm ci && npm run build). Safe to run again: it
# replaces the program and the unit, and never touches an existing config or the state.
#
#   scripts/install.sh [--root DIR]
#
#   /usr/lib/vpc-peerd/                     the package: dist/src, production node_modules, docs
#   /usr/bin/vpc-peerd, /usr/bin/vpc-peerctl wrappers that run them with this node
#   /etc/vpc-peerd/config.json              the production config (systemd/config.json), if absent
#   /etc/systemd/system/vpc-peerd.service   the unit
#   group vpc-peerd                         who may use the API socket (/run/vpc-peerd)
#
# Then, when systemd runs the machine: systemctl daemon-reload and enable (not start: review the
# config first, then `systemctl start vpc-peerd`). --root DIR installs under DIR instead of /
# (a package build or a test): no group is created and systemctl is not called.
set -euo pipefail

usage() { echo "usage: $0 [--root DIR]" >&2; exit 2; }
root=/
while [ $# -gt 0 ]; do
  case $1 in
    --root) [ $# -ge 2 ] || usage; root=$2; shift 2 ;;
    --root=*) root=${1#--root=}; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) usage ;;
  esac
done
root=$(realpath -m -- "$root")
dest() { echo "${root%/}$1"; }

src=$(cd "$(dirname "$0")/.." && pwd)
node=$(command -v node) || { echo "node is not on PATH: install Node.js 20 or newer" >&2; exit 1; }
[ -f "$src/dist/src/main.js" ] || { echo "$src is not built: run npm ci && npm run build there first" >&2; exit 1; }
[ -d "$src/node_modules" ] || { echo "$src has no node_modules: run npm ci there first" >&2; exit 1; }

lib=/usr/lib/vpc-peerd
stage=$(dest "$lib.new")
rm -rf -- "$stage"
mkdir -p -- "$stage"
trap 'rm -rf -- "$stage"' EXIT

# The program and what an operator reads; not the tests, benchmarks or sources.
cp -a -- "$src/package.json" "$src/package-lock.json" "$src/README.md" "$src/config.example.json" "$stage/"
cp -a -- "$src/docs" "$src/systemd" "$src/scripts" "$stage/"
mkdir -p -- "$stage/dist"
cp -a -- "$src/dist/src" "$stage/dist/"
# Production dependencies only, copied as built here (unix-dgram is native: no compiler needed
# on the target, but the same Node ABI is). npm lists their folders, nested ones included.
# (npm ls exits 1 over an extraneous package of a dev checkout; the zod check below catches a real failure.)
(cd "$src" && npm ls --omit=dev --all --parseable 2>/dev/null || true) | while IFS= read -r dir; do
  rel=${dir#"$src"/}
  [ "$rel" != "$dir" ] && [ "$rel" != "" ] || continue
  mkdir -p -- "$stage/$(dirname -- "$rel")"
  [ -e "$stage/$rel" ] || cp -a -- "$dir" "$stage/$rel"
done
[ -d "$stage/node_modules/zod" ] || { echo "copying the production node_modules failed" >&2; exit 1; }

rm -rf -- "$(dest "$lib")"
mv -- "$stage" "$(dest "$lib")"
trap - EXIT

mkdir -p -- "$(dest /usr/bin)"
for prog in vpc-peerd:dist/src/main.js vpc-peerctl:dist/src/cli/main.js; do
  name=${prog%%:*}
  tmp=$(dest "/usr/bin/.$name.new")
  printf '#!/bin/sh\nexec '"'"'%s'"'"' '"'"'%s/%s'"'"' "$@"\n' "$node" "$lib" "${prog#*:}" >"$tmp"
  chmod 0755 -- "$tmp"
  mv -f -- "$tmp" "$(dest "/usr/bin/$name")"
done

install -d -m 0755 -- "$(dest /etc/vpc-peerd)"
if [ -e "$(dest /etc/vpc-peerd/config.json)" ]; then
  echo "kept the existing $(dest /etc/vpc-peerd/config.json)"
else
  install -m 0644 -- "$src/systemd/config.json" "$(dest /etc/vpc-peerd/config.json)"
fi
install -d -m 0755 -- "$(dest /etc/systemd/system)"
install -m 0644 -- "$src/systemd/vpc-peerd.service" "$(dest /etc/systemd/system/vpc-peerd.service)"

if [ "$root" != / ]; then
  echo "installed under $root (no group created, systemctl not called)"
  exit 0
fi
getent group vpc-peerd >/dev/null || groupadd --system vpc-peerd
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable vpc-peerd.service
  echo "installed and enabled; review /etc/vpc-peerd/config.json, then: systemctl start vpc-peerd"
else
  echo "installed; systemd is not running this machine (pid 1 is $(ps -o comm= -p 1)): not enabled"
fi
