#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# The daemon SIGKILLed in the middle of the churn, under the real systemd:
# a systemd --system as PID 1 of private namespaces (tests/systemd's
# lib-pid1.sh, the same set-up as systemd.pid1) runs the shipped units
# with fd_store = yes. soak-churn runs in those namespaces against the
# activated sockets, its workers with shmc_set_reconnect, and SIGKILLs the
# service's MainPID at 40% of its operations; systemd restarts the daemon,
# which takes its regions back from the fd store. soak-churn checks that
# every region and its data survived, that the workers' attachments came
# back on the same memory at their indices (or lost them only to an
# attach that could have taken them), and that the churn then finishes
# clean; this script checks that systemd saw exactly that one restart and
# no watchdog timeout. SHMBROKER_SOAK=long makes the churn its long run;
# SHMBROKER_SOAK_ARGS adds soak-churn options (e.g. "--ops 100000
# --wait-grace").
#
# Usage: systemd.sh SHMBROKERD SOAK_CHURN UNITS_SRC_DIR BOOT_SCRIPT
#                   WORK_PARENT
# Exit status: 0 pass, 1 fail, 77 skipped (prerequisite missing).
set -uo pipefail
if [ $# -ne 5 ]; then
	echo "usage: $0 SHMBROKERD SOAK_CHURN UNITS_SRC_DIR BOOT_SCRIPT" \
	    "WORK_PARENT" >&2
	exit 2
fi
shmbrokerd=$(realpath "$1") soak=$(realpath "$2") unitsrc=$(realpath "$3")
boot=$(realpath "$4") parent=$(realpath "$5")

here=$(dirname "$(realpath "$0")")
. "$here/../systemd/lib-pid1.sh"

pid1_prepare soak
pid1_install

# No [tenant]: everyone is served (tenancy.sh tests tenants). Notices and
# up: the long run makes millions of requests, which info would log.
cat >"$work/etc/shmbroker/shmbroker.conf" <<EOF
[broker]
tenancy = open
hugepages = never
log_level = notice
fd_store = yes
EOF
chmod -R a+rX "$work/etc/shmbroker"
# The shipped watchdog period, not lib-pid1's short one: a daemon busy
# with 64 VMMs on a shared machine must not be taken for a hung one.
printf '[Service]\nWatchdogSec=10s\n' \
    >"$work/units/shmbrokerd.service.d/soak.conf"

pid1_boot
sctl start shmbrokerd.socket shmbrokerd-admin.socket ||
    fail "cannot start the socket units"

# The suite's run makes 200,000 operations (about 12 s), not the churn's
# quick 20,000: it takes that many for the 64 workers, one uid, to fill
# their share of fds in flight often. There a connection that waited for
# the share used to starve until the daemon dropped it: 4 runs in 4
# failed so, against 0 in 80 at 20,000 operations.
# Under a sanitizer, the quick run: ASan's quarantine alone would grow
# the daemon's RSS past the churn's bound over that many.
ops=--ops=200000
[ "${SHMBROKER_SOAK:-}" = long ] || [ -n "${SHMBROKER_TEST_SANITIZER:-}" ] &&
    ops=
# The churn's admin connection starts the daemon.
ns timeout 1200 "$soak" --socket /run/shmbroker/vmm.sock \
    --admin-socket /run/shmbroker/admin.sock \
    --pid-cmd "systemctl show -p MainPID --value shmbrokerd.service" \
    --reconnect 30000 --kill-daemon-at 40 $ops ${SHMBROKER_SOAK_ARGS:-} ||
    fail "the churn through a daemon SIGKILL failed (above)"

[ "$(prop NRestarts)" = 1 ] ||
    fail "systemd restarted the daemon $(prop NRestarts) times, not once"
[ "$(prop ActiveState)/$(prop SubState)" = active/running ] ||
    fail "service is $(prop ActiveState)/$(prop SubState) after the churn"
grep -q "shmbrokerd.service: Watchdog timeout" "$work/console.log" &&
    fail "the watchdog took the daemon for a hung one"
grep -q "regions restored from the fd store" "$work/daemon.log" ||
    fail "the restarted daemon restored nothing from the fd store"
sctl stop shmbrokerd.service shmbrokerd.socket shmbrokerd-admin.socket ||
    fail "cannot stop the service and its sockets"
pid1_poweroff
echo "PASS"
