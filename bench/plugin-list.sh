#!/usr/bin/env bash
# `ooo plugin list` with 20 and 100 installed plugins, run by hand: bench/plugin-list.sh
# Prints the median wall time of several runs next to `ooo --version` measured in the
# same run (process start-up: the floor for any command).
set -euo pipefail
runs=${RUNS:-11}
# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh"

make_plugin() { # name dir
  mkdir -p "$2"
  cat > "$2/ouroboros.plugin.json" <<JSON
{"schema_version": "0.3", "name": "$1", "version": "1.0.0",
 "source": {"type": "plugin_home", "path": "plugins/$1"},
 "commands": [{"namespace": "$1-ns", "name": "run", "summary": "Run", "usage": "run", "risk": "read_only"}],
 "capabilities": [], "permissions": [{"scope": "$1:read", "risk": "read_only", "required": true}],
 "entrypoint": {"type": "command", "command": "./run.sh"}}
JSON
  printf '#!/bin/sh\necho %s\n' "$1" > "$2/run.sh"
  chmod +x "$2/run.sh"
}

export OUROBOROS_HOME="$work/home"
floor=$(time_us "$ooo" --version)
printf '%-34s %8s us\n' "ooo --version (floor)" "$floor"
installed=0
for target in 20 100; do
  while [ "$installed" -lt "$target" ]; do
    installed=$((installed + 1))
    name="bench-plugin-$installed"
    make_plugin "$name" "$work/src/$name"
    "$ooo" plugin install "$name" --from "$work/src/$name" > /dev/null
    if [ $((installed % 2)) -eq 0 ]; then "$ooo" plugin trust "$name" --scope "$name:read" > /dev/null; fi
  done
  t=$(time_us "$ooo" plugin list)
  tj=$(time_us "$ooo" plugin list --json)
  printf '%-34s %8s us   %5.1fx floor\n' "plugin list, $target plugins" "$t" "$(echo "$t / $floor" | bc -l)"
  printf '%-34s %8s us   %5.1fx floor\n' "plugin list --json, $target plugins" "$tj" "$(echo "$tj / $floor" | bc -l)"
done
