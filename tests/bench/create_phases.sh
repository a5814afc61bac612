#!/bin/sh
# SPDX-License-Identifier: ISC
# create_phases.sh: runs `shmbench --only guest_create_usable` under
# create_phases.bt and prints each phase's p50 for the figure (shm-vm with
# shmbrokerd) and the control (shmbench-vm with the replay server), per
# placement. Needs root and bpftrace; not part of any test.
#   tests/bench/create_phases.sh [BUILD_DIR]    (default: build)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
bench=$build/tests/bench/shmbench
if [ ! -x "$bench" ]; then
	echo "create_phases.sh: no $bench; build first (scripts/build.sh)" >&2
	exit 2
fi
if ! command -v bpftrace >/dev/null 2>&1; then
	echo "create_phases.sh: needs bpftrace (apt-get install bpftrace)" >&2
	exit 2
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
bpftrace -o "$out" -c "$bench --only guest_create_usable" \
    "$here/create_phases.bt" >&2

# Each histogram: "@phase[comm, placement]:" then "[lo, hi)  count |...|";
# a bucket is a quarter microsecond, [800, ...) is the overflow.
awk '
function flush() {
	if (key == "")
		return
	half = total / 2; acc = 0
	for (i = 0; i < nb; i++) {
		acc += cnt[i]
		if (acc >= half) { p50 = lo[i] / 4; break }
	}
	printf "%s %d %-8s %-12s %-9s %6d %8.2f\n", pl, order[ph], ph, who, \
	    pl, total, p50
	key = ""
}
BEGIN {
	split("request server serve reply slot run whole", names, " ")
	for (i in names)
		order[names[i]] = i
}
/^@/ {
	flush()
	key = $0; ph = $0; sub(/^@/, "", ph); sub(/\[.*/, "", ph)
	who = $0; sub(/^[^[]*\[/, "", who); sub(/,.*/, "", who)
	pl = $0; sub(/.*, /, "", pl); sub(/\].*/, "", pl)
	nb = 0; total = 0
	next
}
/^\[/ && key != "" {
	b = $1; sub(/^\[/, "", b); sub(/,$/, "", b)
	if (b == "...") b = 800
	lo[nb] = b + 0; cnt[nb] = $3 + 0; total += cnt[nb]; nb++
}
END {
	flush()
}' "$out" | sort -k1,1r -k2,2n -k4,4 | cut -d' ' -f3- | awk '
BEGIN { printf "%-8s %-12s %-9s %6s %8s\n", "phase", "process", \
    "placement", "n", "p50 us" }
{ print }'
