#!/usr/bin/env bash
# Removes what scripts/install.sh installed. Keeps the config (/etc/vpc-peerd) and the state
# (/var/lib/vpc-peerd) unless --purge, which also removes them and the vpc-peerd group.
#
#   scripts/uninstall.sh [--root DIR] [--purge]
set -euo pipefail

usage() { echo "usage: $0 [--root DIR] [--purge]" >&2; exit 2; }
root=/
purge=false
while [ $# -gt 0 ]; do
  case $1 in
    --root) [ $# -ge 2 ] || usage; root=$2; shift 2 ;;
    --root=*) root=${1#--root=}; shift ;;
    --purge) purge=true; shift ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) usage ;;
  esac
done
root=$(realpath -m -- "$root")
dest() { echo "${root%/}$1"; }

systemd=false
[ "$root" = / ] && [ -d /run/systemd/system ] && systemd=true
if $systemd; then
  systemctl disable --now vpc-peerd.service 2>/dev/null || true
fi

rm -f -- "$(dest /etc/systemd/system/vpc-peerd.service)" "$(dest /usr/bin/vpc-peerd)" "$(dest /usr/bin/vpc-peerctl)"
rm -f -- "$(dest /usr/share/bash-completion/completions/vpc-peerctl)" "$(dest /usr/share/zsh/vendor-completions/_vpc-peerctl)" "$(dest /usr/share/man/man1/vpc-peerctl.1.gz)"
rm -rf -- "$(dest /usr/lib/vpc-peerd)" "$(dest /usr/lib/vpc-peerd.new)"
$systemd && systemctl daemon-reload

if $purge; then
  rm -rf -- "$(dest /etc/vpc-peerd)" "$(dest /var/lib/vpc-peerd)"
  if [ "$root" = / ] && getent group vpc-peerd >/dev/null; then groupdel vpc-peerd; fi
  echo "vpc-peerd removed, with its config and state"
else
  echo "vpc-peerd removed; kept $(dest /etc/vpc-peerd) and $(dest /var/lib/vpc-peerd) (--purge removes them)"
fi
