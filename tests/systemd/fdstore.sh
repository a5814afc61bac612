#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# What systemd's fd store keeps, under the shipped units and a real systemd
# as PID 1 (lib-pid1.sh). Two ways regions were lost at a restart with
# nothing said:
#   - a reload that turns fd_store on put only the regions created after
#     it into the store: one made before it was gone after the restart;
#   - systemd keeps FileDescriptorStoreMax= entries and drops the others
#     with only a line in its own log: regions created past it were made,
#     used, and gone after the restart.
# Here the unit keeps 9 entries (a drop-in), and fd_store_max says so: the
# table of members and two per region make room for 4 regions. A region
# is made and written with fd_store = no, the reload turns it on, three
# more are made and written, a fifth create is refused saying why, and
# after `systemctl restart` all four are back with their contents.
# Before that, `systemctl kill -s HUP` (the whole cgroup) must not kill
# the keeper processes that hold all regions but one (local_region_fds =
# 1): their memory had no other copy in the running daemon.
#
# Usage: fdstore.sh SHMBROKERD SHMCTL SD_ATTACH UNITS_SRC_DIR BOOT_SCRIPT
#                   WORK_PARENT
# Exit status: 0 pass, 1 fail, 77 skipped (prerequisite missing).
set -uo pipefail
if [ $# -ne 6 ]; then
	echo "usage: $0 SHMBROKERD SHMCTL SD_ATTACH UNITS_SRC_DIR BOOT_SCRIPT" \
	    "WORK_PARENT" >&2
	exit 2
fi
shmbrokerd=$(realpath "$1") shmctl=$(realpath "$2") attach=$(realpath "$3")
unitsrc=$(realpath "$4") boot=$(realpath "$5") parent=$(realpath "$6")

. "$(dirname "$(realpath "$0")")/lib-pid1.sh"

pid1_prepare fdstore
pid1_install

conf=$work/etc/shmbroker/shmbroker.conf
cat >"$conf" <<EOF
[broker]
tenancy = open
log_level = info
fd_store = no
fd_store_max = 9
local_region_fds = 1
EOF
chmod -R a+rX "$work/etc/shmbroker"
printf '[Service]\nFileDescriptorStoreMax=9\n' \
    >"$work/units/shmbrokerd.service.d/store.conf"

pid1_boot
sctl start shmbrokerd.socket shmbrokerd-admin.socket ||
    fail "cannot start the socket units"
vmm=/run/shmbroker/vmm.sock
# try find|expect NAME TEXT: one VMM writes TEXT into NAME, or checks it.
try() {
	local how=--write
	[ "$1" = expect ] && how=--expect
	ns timeout 20 "$attach" --try "$vmm" find "$2" 1 "$how" "$3"
}
written() { try find "$1" "$2" | grep -q "^status=0 .* data=written"; }
holds() { try expect "$1" "$2" | grep -q "^status=0 .* data=match"; }
# all_hold WHEN: every region is served with what was written into it.
all_hold() {
	holds before "made before the reload" ||
	    { adm list; fail "region before is out of reach $1"; }
	for r in r2 r3 r4; do
		holds "$r" "made as $r" ||
		    { adm list; fail "region $r is out of reach $1"; }
	done
}

adm status >/dev/null || fail "the daemon did not start"
adm create before 64K >/dev/null || fail "shmctl create before failed"
written before "made before the reload" || fail "cannot write region before"

sed -i 's/^fd_store = no$/fd_store = yes/' "$conf"
reloads() { grep -c "configuration reloaded" "$work/daemon.log"; }
n=$(reloads)
sctl reload shmbrokerd.service || fail "systemctl reload failed"
reloaded() { [ "$(reloads)" -gt "$n" ]; }
wait_for 20 reloaded || fail "the daemon did not reload"
echo "fd_store turned on by a reload"

for r in r2 r3 r4; do
	adm create "$r" 64K >/dev/null || fail "shmctl create $r failed"
	written "$r" "made as $r" || fail "cannot write region $r"
done
if out=$(adm create r5 64K 2>&1); then
	fail "a fifth region was made that the fd store cannot keep"
fi
echo "$out"
grep -q "fd store could not keep" <<<"$out" ||
    fail "the refused create does not say that the fd store is full"
echo "the fifth create is refused: the store keeps 9 entries"
adm metrics | grep -qx 'shmbroker_limit_refusals_total{limit="fd_store_max"} 1' ||
    fail "the refusal is not counted under fd_store_max: $(adm metrics |
    grep limit_refusals)"

# All regions but one sit in a keeper process (local_region_fds = 1).
# `systemctl kill -s HUP` signals the whole cgroup, keepers too: the
# daemon reloads, and the keepers, which died of it, must not.
n=$(reloads)
sctl kill -s HUP shmbrokerd.service || fail "systemctl kill -s HUP failed"
wait_for 20 reloaded || fail "the daemon did not reload on SIGHUP"
all_hold "after SIGHUP"
echo "systemctl kill -s HUP: the keepers live on, every region is served"

pid=$(prop MainPID)
sctl restart shmbrokerd.service || fail "systemctl restart failed"
new_daemon() {
	local p
	p=$(prop MainPID)
	[ "$p" != 0 ] && [ "$p" != "$pid" ] && up
}
wait_for 30 new_daemon || fail "no new daemon after the restart"
adm status >/dev/null || fail "the restarted daemon does not answer"
all_hold "after the restart"
grep -q "Cannot store more fds" "$work/console.log" &&
    fail "systemd refused an fd the daemon thought it had stored"
echo "after the restart every region is back with its contents"

pid1_poweroff
echo "PASS"
