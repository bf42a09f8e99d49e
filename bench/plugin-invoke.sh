#!/usr/bin/env bash
# What the firewall adds to a plugin call, run by hand: bench/plugin-invoke.sh
# Median wall time of `ooo <plugin> <cmd>` for a plugin whose entrypoint exits at once,
# next to running that entrypoint directly, in the same run. Set UPSTREAM=<venv>/bin/ooo
# to time upstream's firewall on the same plugin too (needs OUROBOROS_TELEMETRY=0).
set -euo pipefail
runs=${RUNS:-21}
# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh"
mkdir -p "$work/plugin"
cat > "$work/plugin/ouroboros.plugin.json" <<JSON
{"schema_version": "0.1", "name": "bench-noop", "version": "1.0.0",
 "source": {"type": "plugin_home", "path": "plugins/bench-noop"},
 "commands": [{"namespace": "bench-noop", "name": "run", "summary": "Exit at once", "usage": "run", "risk": "read_only"}],
 "capabilities": [], "permissions": [{"scope": "bench:run", "risk": "read_only", "required": true}],
 "entrypoint": {"type": "command", "command": "./noop.sh"}}
JSON
printf '#!/bin/sh\nexit 0\n' > "$work/plugin/noop.sh"
chmod +x "$work/plugin/noop.sh"
export OUROBOROS_HOME="$work/home"
"$ooo" plugin install bench-noop --from "$work/plugin" > /dev/null
"$ooo" plugin trust bench-noop --scope bench:run > /dev/null
direct=$(time_us "$work/plugin/noop.sh" run)
via=$(time_us "$ooo" bench-noop run)
printf '%-40s %8s us\n' "entrypoint run directly" "$direct"
printf '%-40s %8s us   +%.1f ms\n' "ooo bench-noop run (firewall)" "$via" "$(echo "($via - $direct) / 1000" | bc -l)"
if [ -n "${UPSTREAM:-}" ]; then
  mkdir -p "$work/up"
  HOME="$work/up" OUROBOROS_TELEMETRY=0 "$UPSTREAM" plugin install "$work/plugin" > /dev/null 2>&1
  HOME="$work/up" OUROBOROS_TELEMETRY=0 "$UPSTREAM" plugin trust bench-noop --scope bench:run > /dev/null 2>&1
  up=$(HOME="$work/up" OUROBOROS_TELEMETRY=0 time_us "$UPSTREAM" bench-noop run)
  printf '%-40s %8s us   +%.1f ms\n' "upstream ooo bench-noop run" "$up" "$(echo "($up - $direct) / 1000" | bc -l)"
fi
