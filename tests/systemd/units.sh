#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# The unit files of systemd/ pass `systemd-analyze verify` (substituted to
# run the build tree's shmbrokerd), and the service's sandbox stays tight:
# `systemd-analyze security --offline` exposure at most MAX_EXPOSURE (0.5
# when written; README.md has the breakdown). A looser unit fails here.
#
# Usage: units.sh SHMBROKERD UNITS_SRC_DIR
# Exit status: 0 pass, 1 fail, 77 skipped (no systemd-analyze).
set -uo pipefail
MAX_EXPOSURE=0.5
if [ $# -ne 2 ]; then
	echo "usage: $0 SHMBROKERD UNITS_SRC_DIR" >&2
	exit 2
fi
shmbrokerd=$(realpath "$1") src=$(realpath "$2")

command -v systemd-analyze >/dev/null ||
    { echo "SKIP: systemd-analyze is not installed"; exit 77; }
systemd-analyze security --help 2>/dev/null | grep -q -- --offline ||
    { echo "SKIP: systemd-analyze has no security --offline (systemd < 250)"; exit 77; }

dir=$(mktemp -d /tmp/shmbroker-units.XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

sed -e "s|@SBINDIR@|$(dirname "$shmbrokerd")|g" -e "s|@SYSCONFDIR@|/etc|g" \
    "$src/shmbrokerd.service.in" >"$dir/shmbrokerd.service"
cp "$src/shmbrokerd.socket" "$src/shmbrokerd-admin.socket" "$dir/"
grep -qE "@[A-Z_]+@" "$dir/shmbrokerd.service" &&
    fail "unsubstituted @VARIABLE@ left in shmbrokerd.service.in"

cd "$dir" || fail "cd $dir"
out=$(systemd-analyze verify --man=no ./shmbrokerd.service \
    ./shmbrokerd.socket ./shmbrokerd-admin.socket 2>&1)
rc=$?
if [ "$rc" != 0 ] || [ -n "$out" ]; then
	fail "systemd-analyze verify (exit $rc): $out"
fi
echo "verify: ok"

out=$(systemd-analyze security --offline=yes ./shmbrokerd.service 2>&1)
score=$(sed -n 's/.*Overall exposure level for shmbrokerd.service: \([0-9.]*\).*/\1/p' <<<"$out")
[ -n "$score" ] || fail "no exposure level in: $out"
echo "security: exposure $score (at most $MAX_EXPOSURE)"
awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }' || {
	grep '✗' <<<"$out"
	fail "exposure $score is above $MAX_EXPOSURE"
}
echo "PASS"
