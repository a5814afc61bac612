#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Configures and builds shmbroker. Usage: scripts/build.sh [--asan] 
# Builds into build/ (build-asan/ with --asan: AddressSanitizer + UBSan).
set -euo pipefail
cd "$(dirname "$0")/.."

dir=build
opts=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
if [ "${1:-}" = "--asan" ]; then
  dir=build-asan
  opts=(-DCMAKE_BUILD_TYPE=Debug -DSHMBROKER_SANITIZE=ON)
fi
cmake -S . -B "$dir" "${opts[@]}" >/dev/null
cmake --build "$dir" -j"$(nproc)"
echo "$dir"
