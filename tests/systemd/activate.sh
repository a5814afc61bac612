#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Socket activation without systemd: systemd-socket-activate listens on the
# two SOCK_SEQPACKET sockets and executes shmbrokerd on the first
# connection, passing them as LISTEN_FDS. Two ways of telling them apart:
#  1. no names: the daemon matches the admin socket's path against
#     --admin-socket;
#  2. --fdname=admin:vmm, sockets listed admin first and --socket/
#     --admin-socket pointing elsewhere: only the names can be right.
# In both, a client gets served (admin: shmctl; VMM: sd-attach maps a
# configured region twice and checks the memory is shared).
#
# Usage: activate.sh SHMBROKERD SHMCTL SD_ATTACH
# Exit status: 0 pass, 1 fail, 77 skipped (prerequisite missing).
set -uo pipefail
if [ $# -ne 3 ]; then
	echo "usage: $0 SHMBROKERD SHMCTL SD_ATTACH" >&2
	exit 2
fi
shmbrokerd=$1 shmctl=$2 attach=$3

command -v systemd-socket-activate >/dev/null ||
    { echo "SKIP: systemd-socket-activate is not installed"; exit 77; }

dir=$(mktemp -d /tmp/shmbroker-activate.XXXXXX)
apid=

fail() {
	echo "FAIL: $*"
	echo "--- daemon output"; cat "$dir/daemon.log" 2>/dev/null
	exit 1
}

stop_daemon() {
	[ -n "$apid" ] || return 0
	kill -TERM "$apid" 2>/dev/null
	for _ in $(seq 50); do
		kill -0 "$apid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$apid" 2>/dev/null
	wait "$apid" 2>/dev/null
	apid=
}

cleanup() {
	local rc=$?
	stop_daemon
	rm -rf "$dir"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

cat >"$dir/shmbroker.conf" <<EOF
[broker]
tenancy = open
log_level = info

[region act]
size = 1M
EOF

# Starts systemd-socket-activate with the arguments given; waits for the
# sockets named by -l to exist.
start_activator() {
	: >"$dir/daemon.log"
	systemd-socket-activate "$@" >>"$dir/daemon.log" 2>&1 &
	apid=$!
	for _ in $(seq 100); do
		[ -S "$vmm" ] && [ -S "$admin" ] && return 0
		kill -0 "$apid" 2>/dev/null || fail "the activator exited"
		sleep 0.1
	done
	fail "the activator did not create $vmm and $admin"
}

# The activator executes the daemon in its own process: what runs there.
running() { readlink "/proc/$apid/exe"; }

not_started_yet() {
	[ "$(running)" != "$(realpath "$shmbrokerd")" ] ||
	    fail "$1: the daemon started before any connection"
}

started() {
	[ "$(running)" = "$(realpath "$shmbrokerd")" ] ||
	    fail "$1: the daemon is not running after a connection ($(running))"
}

# --- 1. Unnamed sockets, told apart by path ------------------------------
vmm=$dir/vmm.sock admin=$dir/admin.sock
start_activator --seqpacket -l "$vmm" -l "$admin" \
    "$shmbrokerd" --socket "$vmm" --admin-socket "$admin" \
    --config "$dir/shmbroker.conf"
not_started_yet unnamed
out=$(timeout 30 "$shmctl" -s "$admin" status) ||
    fail "unnamed: shmctl status through the passed admin socket"
grep -q "^server: *shmbrokerd" <<<"$out" || fail "unnamed: odd status: $out"
started unnamed
timeout 30 "$attach" "$vmm" act || fail "unnamed: VMM attach to 'act'"
timeout 30 "$shmctl" -s "$admin" list | grep -qw act ||
    fail "unnamed: the configured region is not listed"
stop_daemon
echo "ok: unnamed sockets, matched by path"

# --- 2. Named sockets (FileDescriptorName=), listed admin first -----------
vmm=$dir/vmm2.sock admin=$dir/admin2.sock
start_activator --seqpacket -l "$admin" -l "$vmm" --fdname=admin:vmm \
    "$shmbrokerd" --socket "$dir/unused-vmm.sock" \
    --admin-socket "$dir/unused-admin.sock" --config "$dir/shmbroker.conf"
not_started_yet named
# This time the first connection is a VMM's.
timeout 30 "$attach" "$vmm" act || fail "named: VMM attach to 'act'"
started named
out=$(timeout 30 "$shmctl" -s "$admin" list) ||
    fail "named: shmctl list through the socket named admin"
grep -qw act <<<"$out" || fail "named: the configured region is not listed"
if timeout 30 "$shmctl" -s "$vmm" status >/dev/null 2>&1; then
	fail "named: the VMM socket answered an admin request"
fi
if [ -e "$dir/unused-vmm.sock" ] || [ -e "$dir/unused-admin.sock" ]; then
	fail "named: the daemon bound its own sockets besides the passed ones"
fi
# It says the sockets it was given, not the ones it was told of.
grep -q "listening on $vmm (admin $admin) from systemd" "$dir/daemon.log" ||
    fail "named: the log does not name the passed sockets"
stop_daemon
echo "ok: named sockets"
echo "PASS"
