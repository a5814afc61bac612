#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# README's second command: installs what is missing, builds and runs the
# whole test suite with ctest. With --asan, the same in an AddressSanitizer
# + UBSan build (build-asan/). Exits non-zero when any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-deps.sh
dir=$(scripts/build.sh "$@" | tail -n 1)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$dir" --output-on-failure -j2
