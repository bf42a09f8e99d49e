# Shared by the bench/*.sh scripts (sourced, not run): builds the release binary into
# $ooo, makes a scratch directory $work removed on exit, and times commands.
# Expects $runs to be set by the caller.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release -q -p ooo-cli
ooo="$PWD/target/release/ooo"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# time_us CMD...: median wall time of $runs runs, in microseconds (output discarded).
# One untimed run first must succeed, so a refused or broken command is never timed.
time_us() {
  if ! "$@" > /dev/null 2>&1; then
    echo "bench: \`$*\` failed; not timing it" >&2
    return 1
  fi
  for _ in $(seq 1 "$runs"); do
    local start end
    start=$(date +%s%N); "$@" > /dev/null 2>&1 || true; end=$(date +%s%N)
    echo $(( (end - start) / 1000 ))
  done | median
}
