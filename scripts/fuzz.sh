#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Builds the libFuzzer harnesses of tests/fuzz (clang, ASan + UBSan, into
# build-fuzz/) and runs each one in turn from a copy of its seed corpus.
# Fails on any crash, leak, timeout, out-of-memory or sanitizer report:
# the input that did it is kept and its path printed. Usage:
#
#   scripts/fuzz.sh [--time S] [--runs N] [--corpus DIR] [--max-len N]
#                   [HARNESS...]
#   scripts/fuzz.sh --build-only
#   scripts/fuzz.sh --seeds
#
#   --time S      seconds per harness (default 60, what CI runs; 0: no
#                 limit, with --runs)
#   --runs N      stop each harness after N executions (libFuzzer's
#                 -runs), or at --time, whichever comes first
#   --corpus DIR  grow DIR/HARNESS instead of a temporary copy (seeded
#                 from tests/fuzz/corpus the first time): for long runs
#                 that carry on where the last one stopped
#   --max-len N   libFuzzer's -max_len (default: its own choice)
#   --seeds       rewrite tests/fuzz/corpus/*/ with tests/fuzz/fuzz_seeds
#   HARNESS       fuzz_daemon fuzz_client fuzz_vdev_regs fuzz_config
#                 fuzz_fdname fuzz_ivshmem fuzz_envelope (default: all)
#
# Each harness runs in one process (-jobs=1) at nice 10. protobuf-c is
# compiled into the harnesses from Debian's source of the installed
# version, fetched once with apt-get source into build-fuzz/protobuf-c/
# (tests/fuzz/README.md says why); without it the installed library is
# used, uninstrumented.
set -euo pipefail
cd "$(dirname "$0")/.."

ALL=(fuzz_daemon fuzz_client fuzz_vdev_regs fuzz_config fuzz_fdname
     fuzz_ivshmem fuzz_envelope)
time_s=60
corpus_root=
max_len=
runs=
mode=run
harnesses=()
while [ $# -gt 0 ]; do
  case "$1" in
    --time) time_s=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --corpus) corpus_root=$2; shift 2 ;;
    --max-len) max_len=$2; shift 2 ;;
    --build-only) mode=build; shift ;;
    --seeds) mode=seeds; shift ;;
    -h|--help) sed -n '3,29p' "$0"; exit 0 ;;
    fuzz_*) harnesses+=("$1"); shift ;;
    *) echo "fuzz.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ ${#harnesses[@]} -gt 0 ] || harnesses=("${ALL[@]}")

dir=build-fuzz
if ! command -v clang >/dev/null; then
  echo "fuzz.sh: clang is missing: run scripts/setup-deps.sh" >&2
  exit 1
fi

# Debian's source of the installed protobuf-c, through apt with a private
# list of source indexes made from the system's own sources (nothing in
# /etc/apt changes).
fetch_protobuf_c() {
  local pc=$dir/protobuf-c ver
  [ -f "$pc/src/protobuf-c/protobuf-c.c" ] && return 0
  ver=$(dpkg-query -W -f='${source:Version}' libprotobuf-c-dev 2>/dev/null) ||
    return 1
  rm -rf "$pc" && mkdir -p "$pc/lists/partial" "$pc/sources"
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && sed 's/^Types: *deb *$/Types: deb-src/' "$f" \
      >"$pc/sources/$(basename "$f")"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] && sed -n 's/^deb /deb-src /p' "$f" \
      >"$pc/sources/$(basename "$f").list"
  done
  local apt=(apt-get -q -o Dir::Etc::SourceList=/dev/null
             -o Dir::Etc::SourceParts="$PWD/$pc/sources"
             -o Dir::State::Lists="$PWD/$pc/lists")
  "${apt[@]}" update >"$pc/apt.log" 2>&1 &&
    (cd "$pc" && "${apt[@]}" source --download-only "protobuf-c=$ver" \
       >>apt.log 2>&1 && dpkg-source -x protobuf-c_*.dsc src >>apt.log 2>&1)
}

build() {
  local pcsrc=
  if fetch_protobuf_c; then
    pcsrc=$PWD/$dir/protobuf-c/src
  else
    echo "fuzz.sh: could not fetch protobuf-c's source (see" \
      "$dir/protobuf-c/apt.log): the harnesses use the installed library," \
      "uninstrumented" >&2
  fi
  CC=clang cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSHMBROKER_FUZZ=ON -DSHMBROKER_TESTS=OFF \
    -DSHMBROKER_PROTOBUF_C_SOURCE="$pcsrc" >/dev/null
  cmake --build "$dir" -j2 --target fuzzers fuzz_seeds >/dev/null
}

build
case $mode in
  build) exit 0 ;;
  seeds)
    "$dir/tests/fuzz/fuzz_seeds" tests/fuzz/corpus
    cp systemd/shmbroker.conf tests/fuzz/corpus/fuzz_config/shipped.conf
    exit 0 ;;
esac

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
work=$(mktemp -d /tmp/shmbroker-fuzz.XXXXXX)
keep=0
trap '[ $keep = 1 ] || rm -rf "$work"' EXIT

failed=()
for h in "${harnesses[@]}"; do
  bin=$dir/tests/fuzz/$h
  [ -x "$bin" ] || { echo "fuzz.sh: no harness $h" >&2; exit 2; }
  if [ -n "$corpus_root" ]; then
    corpus=$corpus_root/$h
    [ -d "$corpus" ] || { mkdir -p "$corpus"; cp tests/fuzz/corpus/"$h"/* "$corpus"/; }
  else
    corpus=$work/$h.corpus
    mkdir -p "$corpus"
    cp tests/fuzz/corpus/"$h"/* "$corpus"/
  fi
  mkdir -p "$work/$h.found"
  log=$work/$h.log
  opts=(-max_total_time="$time_s" -timeout=25 -rss_limit_mb=2048
        -print_final_stats=1 -artifact_prefix="$work/$h.found/")
  [ -n "$max_len" ] && opts+=(-max_len="$max_len")
  [ -n "$runs" ] && opts+=(-runs="$runs")
  rc=0
  start=$(date +%s)
  nice -n 10 "$bin" "${opts[@]}" "$corpus" >"$log" 2>&1 || rc=$?
  took=$(($(date +%s) - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  found=$(ls "$work/$h.found")
  if [ $rc -ne 0 ] || [ -n "$found" ]; then
    keep=1
    failed+=("$h")
    echo "== $h: FAILED (exit $rc) after ${execs:-?} executions"
    grep -E 'ERROR|SUMMARY|runtime error|fuzz_|books' "$log" | head -20
    echo "   log: $log; input: $work/$h.found/$found"
    echo "   reproduce: $bin $work/$h.found/$found"
  else
    echo "== $h: ${execs:-?} executions in ${took} s, nothing found"
  fi
done
# The closing line CI reads, as a test runner's.
echo "fuzz: $((${#harnesses[@]} - ${#failed[@]})) passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
