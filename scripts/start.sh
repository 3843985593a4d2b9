#!/usr/bin/env bash
# `npm start`: the daemon on config.example.json (everything under ./var/). Installs what a fresh
# machine lacks (scripts/lib/setup.sh), says that it builds, then runs the daemon.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/setup.sh
if [ ! -d node_modules ]; then
  ensure_packages start.sh "${BUILD_PACKAGES[@]}" || exit 1
  ensure_node_modules start.sh || exit 1
fi
echo "start.sh: building (tsc, about 20 s)…" >&2
npm run build --silent || exit 1
exec node dist/src/main.js --config config.example.json "$@"
