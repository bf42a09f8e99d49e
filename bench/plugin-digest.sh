#!/usr/bin/env bash
# Digest throughput of a plugin tree, run by hand: bench/plugin-digest.sh [files] [total_mb]
# Prints the median of several runs for each contender and its ratio to the floor
# measured in the same run: `openssl dgst -sha256` over every file (SHA instructions,
# one process per batch of files) and `cat` (reading only).
set -euo pipefail
cd "$(dirname "$0")/.."
files=${1:-2000}
total_mb=${2:-50}
runs=${RUNS:-5}

cargo build --release -q -p ooo-cli
ooo="$PWD/target/release/ooo"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tree="$work/tree"
mkdir -p "$tree"
per_file=$(( total_mb * 1024 * 1024 / files ))
for i in $(seq 1 "$files"); do
  dir="$tree/d$(( i % 40 ))"
  mkdir -p "$dir"
  head -c "$per_file" /dev/urandom > "$dir/f$i.bin"
done
# Age the files past the stat cache's racy-clock window.
sleep 3

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_ms() { # run "$@" $runs times, print the median wall time in ms
  for _ in $(seq 1 "$runs"); do
    local start end
    start=$(date +%s%N); "$@" > /dev/null; end=$(date +%s%N)
    echo $(( (end - start) / 1000000 ))
  done | median
}

export OUROBOROS_HOME="$work/home"
mkdir -p "$OUROBOROS_HOME"
cold() { rm -f "$OUROBOROS_HOME/cache/digest-stat-cache.json"; "$ooo" plugin digest "$tree"; }
warm() { "$ooo" plugin digest "$tree"; }
floor_openssl() { find "$tree" -type f -print0 | xargs -0 openssl dgst -sha256; }
floor_cat() { find "$tree" -type f -print0 | xargs -0 cat; }

cat "$tree"/*/* > /dev/null   # page cache warm for everyone
warm > /dev/null              # fill the stat cache once
t_openssl=$(time_ms floor_openssl)
t_cat=$(time_ms floor_cat)
t_cold=$(time_ms cold)
t_warm=$(time_ms warm)
echo "tree: $files files, $total_mb MB; median of $runs runs"
printf '%-38s %7s ms\n' "floor: openssl dgst -sha256 (xargs)" "$t_openssl"
printf '%-38s %7s ms\n' "floor: cat (read only)" "$t_cat"
printf '%-38s %7s ms   %5.2fx openssl\n' "ooo plugin digest, cold stat cache" "$t_cold" "$(echo "$t_cold / $t_openssl" | bc -l)"
printf '%-38s %7s ms   %5.2fx openssl\n' "ooo plugin digest, warm stat cache" "$t_warm" "$(echo "$t_warm / $t_openssl" | bc -l)"
