# Sourced by scripts/start.sh and scripts/test.sh (the README's two commands): the set-up both do.

# ensure_packages WHO CMD:PKG...: installs, with apt-get as root, each package whose command is
# missing (CMD may be "a,b": both needed); otherwise names them on stderr and returns 1.
ensure_packages() {
  local who=$1; shift
  local need=() pair cmds pkg c missing
  for pair in "$@"; do
    cmds=${pair%%:*}; pkg=${pair#*:}; missing=0
    for c in ${cmds//,/ }; do command -v "$c" >/dev/null || missing=1; done
    [ "$missing" -eq 1 ] && need+=($pkg)
  done
  [ ${#need[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "$who: installing ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}"; } >&2 && return 0
    echo "$who: apt-get install ${need[*]} failed" >&2
    return 1
  fi
  echo "$who: missing ${need[*]}: install them (as root: apt-get install -y ${need[*]})" >&2
  return 1
}

# The compiler the one native module (unix-dgram, sd_notify) is built with by npm ci.
BUILD_PACKAGES=(python3:python3 make,g++:"make g++")

# ensure_node_modules WHO: npm ci when node_modules is absent, never otherwise (an `npm ci` under
# a daemon running from this checkout would pull its modules from under it).
ensure_node_modules() {
  [ -d node_modules ] && return 0
  echo "$1: node_modules is absent: npm ci" >&2
  npm ci --no-audit --no-fund >&2 && return 0
  echo "$1: npm ci failed" >&2
  return 1
}
