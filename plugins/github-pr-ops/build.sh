#!/bin/sh
# The build step of this plugin (x-ouroboros.build in ouroboros.plugin.json):
# `ooo plugin install` and `update` run it in their sandbox, in this directory of a copy
# of the repository, writing only that copy. By hand: `sh build.sh` here.
set -eu
cargo build --release --locked --package github-pr-ops
mkdir -p bin
cp "${CARGO_TARGET_DIR:-../../target}/release/github-pr-ops" bin/github-pr-ops
