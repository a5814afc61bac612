#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# The units under the real systemd: a systemd --system runs as PID 1 of
# private PID, mount, UTS, IPC, network and cgroup namespaces
# (pid1-boot.sh), with only this test's unit files, a private /run, /dev and
# user database, and read-only /proc/sys and /sys. Into it go the units of
# systemd/, substituted to run the build tree's shmbrokerd, with a drop-in
# for what this machine or the test needs (lib-pid1.sh, shared with
# tenancy.sh, sets all of that up and cleans it up). Then: the sockets
# come up without the service, a connection starts it, it reports its
# status, reloads in place, is killed and restarted by the watchdog when it
# stops answering, keeps region memory in systemd's fd store across a
# restart (VMM clients reconnect and re-claim their attachments), and stops.
#
# Usage: pid1.sh SHMBROKERD SHMCTL SHMDEMO SD_ATTACH UNITS_SRC_DIR BOOT_SCRIPT
#                WORK_PARENT
# Exit status: 0 pass, 1 fail, 77 skipped (prerequisite missing).
set -uo pipefail
if [ $# -ne 7 ]; then
	echo "usage: $0 SHMBROKERD SHMCTL SHMDEMO SD_ATTACH UNITS_SRC_DIR" \
	    "BOOT_SCRIPT WORK_PARENT" >&2
	exit 2
fi
shmbrokerd=$(realpath "$1") shmctl=$(realpath "$2") shmdemo=$(realpath "$3")
attach=$(realpath "$4") unitsrc=$(realpath "$5") boot=$(realpath "$6")
parent=$(realpath "$7")

. "$(dirname "$(realpath "$0")")/lib-pid1.sh"

pool=/proc/sys/vm/nr_hugepages saved_pool=''
pid1_on_cleanup() {
	if [ -n "$saved_pool" ]; then
		echo "$saved_pool" >"$pool" ||
		    echo "warning: cannot restore $pool to $saved_pool"
	fi
}

pid1_prepare pid1
pid1_install

# local_region_fds = 1 parks every region but the first in a keeper
# process, so the sandbox must let the daemon spawn it from /proc/self/exe
# and take descriptors back with pidfd_getfd (daemon/fdstash.c).
# fd_store = yes hands every region's memfd to systemd's fd store
# (FileDescriptorStoreMax= of the shipped unit), parked ones included.
# No [tenant]: the file must say that everyone is served (tenancy.sh
# tests tenants under these units).
cat >"$work/etc/shmbroker/shmbroker.conf" <<EOF
[broker]
tenancy = open
hugepages = prefer
log_level = info
local_region_fds = 1
fd_store = yes

[region cfg-one]
size = 1M

[region huge]
size = 2M
EOF
chmod -R a+rX "$work/etc/shmbroker"

# Two more pages in the hugepage pool (restored by cleanup; this test holds
# the hugepage_pool lock), so that region "huge" shows memfd_create with
# MFD_HUGETLB working inside the sandbox, without any capability.
want_hugetlb=no
if [ -w "$pool" ] && saved_pool=$(cat "$pool") &&
    echo $((saved_pool + 2)) >"$pool" 2>/dev/null &&
    [ "$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)" -ge 1 ]; then
	want_hugetlb=yes
fi

# --- Boot -----------------------------------------------------------------
pid1_boot

# --- Socket activation ----------------------------------------------------
sctl start shmbrokerd.socket shmbrokerd-admin.socket ||
    fail "cannot start the socket units"
[ "$(prop ActiveState)" = inactive ] ||
    fail "the service started before any connection"
[ "$(ns stat -c %a /run/shmbroker/vmm.sock)" = 666 ] ||
    fail "vmm.sock is not mode 0666"
[ "$(ns stat -c %a /run/shmbroker/admin.sock)" = 600 ] ||
    fail "admin.sock is not mode 0600"

# The first connection (a VMM client, on the VMM socket) starts the daemon.
out=$(ns timeout 60 "$shmdemo" \
    --socket /run/shmbroker/vmm.sock \
    --admin-socket /run/shmbroker/admin.sock --shmctl "$shmctl" 2>&1) ||
    { echo "$out"; fail "shmdemo through the activated sockets failed"; }
grep -q "through shared memory" <<<"$out" ||
    { echo "$out"; fail "shmdemo did not pass its message"; }

[ "$(prop ActiveState)/$(prop SubState)" = active/running ] ||
    fail "service is $(prop ActiveState)/$(prop SubState), not active/running"
status=$(prop StatusText)
[[ $status == serving* ]] || fail "StatusText is '$status', not the daemon's"
echo "status: $status"
pid=$(prop MainPID)
[ "$(ns stat -c %u "/proc/$pid")" = "$uid" ] ||
    fail "the daemon does not run as user shmbroker (uid $uid)"
# The socket files keep the owner, group and mode their units gave them
# while the service runs. (A RuntimeDirectory= would hand them to user
# shmbroker: systemd chowns that directory's whole tree at every start,
# which undoes a SocketGroup= for admin_group.)
for s in vmm.sock:666 admin.sock:600; do
	got=$(ns stat -c %U:%G:%a "/run/shmbroker/${s%:*}")
	[ "$got" = "root:root:${s#*:}" ] || fail "once the service runs," \
	    "${s%:*} is $got, not root:root:${s#*:} as its unit made it"
done
# Unprivileged VMMs reach the VMM socket, not the admin socket: shmctl
# exits 69 only when it cannot connect.
[ "$(ns stat -c %a /run/shmbroker)" = 755 ] ||
    fail "/run/shmbroker is not mode 0755 once the service runs"
nobody() { ns setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
nobody timeout 10 "$shmctl" -s /run/shmbroker/vmm.sock status >/dev/null 2>&1
[ $? = 69 ] && fail "an unprivileged user cannot connect to vmm.sock"
nobody timeout 10 "$shmctl" -s /run/shmbroker/admin.sock status >/dev/null 2>&1
[ $? = 69 ] || fail "an unprivileged user could connect to admin.sock"
# The sandbox is in force, not silently dropped.
st=$(ns cat "/proc/$pid/status")
grep -q '^NoNewPrivs:[[:space:]]*1$' <<<"$st" || fail "NoNewPrivileges= not applied"
grep -q '^Seccomp:[[:space:]]*2$' <<<"$st" || fail "SystemCallFilter= not applied"
grep -q '^CapBnd:[[:space:]]*0*$' <<<"$st" || fail "CapabilityBoundingSet= not applied"
[ "$(ns readlink "/proc/$pid/ns/net")" != "$(ns readlink /proc/1/ns/net)" ] ||
    fail "PrivateNetwork= not applied"
# cfg-one was parked in a keeper when shmdemo created its region: serving
# it takes pidfd_getfd through the sandbox.
ns timeout 30 "$attach" /run/shmbroker/vmm.sock cfg-one ||
    fail "cannot attach the configured region cfg-one"

out=$(ns timeout 30 "$attach" /run/shmbroker/vmm.sock huge) ||
    { echo "$out"; fail "cannot attach the configured region huge"; }
echo "$out"
if [ "$want_hugetlb" = yes ]; then
	grep -q "pages, hugetlb" <<<"$out" ||
	    fail "region huge is not hugetlb inside the sandbox"
else
	echo "note: the hugepage pool could not be filled; hugetlb unchecked"
fi

# --- Reload ---------------------------------------------------------------
printf '\n[region cfg-two]\nsize = 2M\n' >>"$work/etc/shmbroker/shmbroker.conf"
sctl reload shmbrokerd.service || fail "systemctl reload failed"
has_two() {
	ns timeout 10 "$shmctl" -s /run/shmbroker/admin.sock list |
	    grep -q cfg-two
}
wait_for 20 has_two || fail "the reload did not create region cfg-two"
[ "$(prop MainPID)" = "$pid" ] || fail "the reload changed the MainPID"
reloaded() { [ "$(prop ActiveState)" = active ]; }
wait_for 20 reloaded || fail "service is $(prop ActiveState) after reload"

# --- Watchdog -------------------------------------------------------------
restarts=$(prop NRestarts)
ns kill -STOP "$pid" || fail "cannot stop the daemon"
restarted() {
	local p
	p=$(prop MainPID)
	[ "$(prop NRestarts)" -gt "$restarts" ] && [ "$p" != 0 ] &&
	    [ "$p" != "$pid" ] && [ "$(prop ActiveState)" = active ]
}
wait_for 60 restarted ||
    fail "the watchdog did not restart the stopped daemon"
grep -q "shmbrokerd.service: Watchdog timeout" "$work/console.log" ||
    fail "systemd did not log a watchdog timeout for shmbrokerd"
echo "watchdog: pid $pid killed, restarted as $(prop MainPID)"
ns timeout 30 "$attach" /run/shmbroker/vmm.sock cfg-two ||
    fail "the restarted daemon does not serve cfg-two"

# --- Restart with the fd store -------------------------------------------
# A VMM (sd-attach --hold) creates or finds a region, writes a pattern into
# it and keeps its mapping and its connection, with reconnect enabled. The
# daemon restarts; systemd hands it the region memfds from its fd store.
# Then the region is listed again, a new VMM finds the pattern written
# before the restart, and the holder's next call reconnects and re-claims
# its index and the same memory (it sees the new VMM's writes).
# Measured with systemd 252 (see systemd/README.md): `systemctl restart`
# and Restart=always keep the fd store; `systemctl stop` empties it.
listed() { adm list | awk 'NR > 1 { print $2 }' | grep -qx "$1"; }
main_pid_changed() {
	local p
	p=$(prop MainPID)
	[ "$p" != 0 ] && [ "$p" != "$1" ] && [ "$(prop ActiveState)" = active ]
}
# hold NAME PAGES: starts a holder; its steps go through $work/hold-NAME.
hold() {
	local d="$work/hold-$1"
	mkdir "$d" || fail "cannot create $d"
	ns "$attach" --hold /run/shmbroker/vmm.sock "$1" "$2" "$d" \
	    >"$d.out" 2>&1 &
	pid1_bg="$pid1_bg $!"
	eval "hold_pid_$(tr -c 'a-z0-9\n' _ <<<"$1")=$!"
	wait_for 20 test -e "$d/ready" ||
	    { cat "$d.out"; fail "holder of $1 did not attach"; }
	# Index 1, with 0 free: re-claiming 1 is want_index at work.
	[ "$(cat "$d/ready")" = 1 ] || fail "holder of $1 is not at index 1"
}
# after_restart NAME: the region is back with its data and its holder.
after_restart() {
	local d="$work/hold-$1" out var
	var="hold_pid_$(tr -c 'a-z0-9\n' _ <<<"$1")"
	listed "$1" || { adm list; fail "region $1 is not back after the restart"; }
	touch "$d/go1"
	wait_for 40 test -e "$d/reclaimed" ||
	    { cat "$d.out"; fail "the holder of $1 did not re-claim it"; }
	out=$(ns timeout 30 "$attach" --check /run/shmbroker/vmm.sock "$1") ||
	    { echo "$out"; fail "a new client did not find the data of $1"; }
	grep -q "pattern ok" <<<"$out" || fail "no pattern check for $1"
	echo "$out"
	touch "$d/go2"
	wait "${!var}" ||
	    { cat "$d.out"; fail "the holder of $1 failed after the restart"; }
	cat "$d.out"
}

# An explicit restart: an admin region and a guest region with holders,
# and an admin region destroyed before it, whose fd store entry must go.
adm create keep 1M >/dev/null || fail "shmctl create keep failed"
adm create stale 1M >/dev/null && adm destroy stale >/dev/null ||
    fail "cannot create and destroy region stale"
hold keep 256
hold vmclean 16
pid=$(prop MainPID)
restores() { grep -c "regions restored from the fd store" "$work/daemon.log"; }
n=$(restores)
sctl restart shmbrokerd.service || fail "systemctl restart failed"
wait_for 30 main_pid_changed "$pid" || fail "no new daemon after the restart"
[ "$(restores)" -gt "$n" ] ||
    fail "the restarted daemon restored nothing from the fd store"
listed stale && fail "region stale, destroyed before the restart, came back"
after_restart keep
echo "systemctl restart: region keep kept its memory; its VMM re-claimed it"
# A clean stop (SIGTERM) closes every connection, but a guest region whose
# clients went with the daemon stays in the fd store and comes back.
after_restart vmclean

# A crash: SIGKILL leaves nothing to the daemon, Restart=always brings
# it back, and systemd kept the fd store for it: a guest region survives.
hold vmreg 16
pid=$(prop MainPID)
ns kill -KILL "$pid" || fail "cannot kill the daemon"
wait_for 30 main_pid_changed "$pid" || fail "no new daemon after SIGKILL"
after_restart vmreg
listed keep || fail "region keep did not survive the second restart"
listed stale && fail "region stale came back at the second restart"
echo "SIGKILL and Restart=always: guest region vmreg kept its memory"

# A SIGTERM that systemd did not send: the daemon exits cleanly, and
# Restart=always brings it back with the store (on-failure would have
# left the service inactive and emptied it).
pid=$(prop MainPID)
ns kill -TERM "$pid" || fail "cannot send SIGTERM to the daemon"
wait_for 30 main_pid_changed "$pid" ||
    fail "no new daemon after a SIGTERM systemd did not send"
listed keep || fail "region keep did not survive a stray SIGTERM"
echo "a stray SIGTERM: the daemon came back with its regions"

# --- A crash loop ---------------------------------------------------------
# Daemon deaths in quick succession must not cost region memory (issue 10,
# item 4). systemd 252 drops the fd store of a service that goes to failed,
# and its default start limit (5 starts in 10 s) fails a service that dies
# a sixth time, and both socket units with it (VMMs then get ECONNREFUSED).
# The shipped unit has no start limit and paces its restarts instead
# (systemd/README.md has the bound). An admin region and a guest region,
# both with data and a holding VMM; then 10 SIGKILLs, each as soon as
# systemd has a new MainPID, and a burst of 10 more as fast as a busy loop
# on the host can see the new process in the service's cgroup.
unit_state() {
	local u
	for u in shmbrokerd.service shmbrokerd.socket shmbrokerd-admin.socket; do
		printf '%s %s/%s (%s)  ' "$u" \
		    "$(sctl show -p ActiveState --value "$u")" \
		    "$(sctl show -p SubState --value "$u")" \
		    "$(sctl show -p Result --value "$u")"
	done
}
sockets_active() {
	[ "$(sctl show -p ActiveState --value shmbrokerd.socket)" = active ] &&
	[ "$(sctl show -p ActiveState --value shmbrokerd-admin.socket)" = active ]
}
adm create loop-adm 1M >/dev/null || fail "shmctl create loop-adm failed"
hold loop-adm 256
hold loop-vm 16
# Clients knock on both sockets all along (until the end of the next
# part), so every death of the daemon finds connections waiting and the
# socket units trigger: their trigger limit must not be reached either.
nsenter -t "$spid" -m -p sh -c "while :; do
	timeout 5 $shmctl -s /run/shmbroker/admin.sock status
	timeout 5 $attach /run/shmbroker/vmm.sock cfg-one
done >/dev/null 2>&1" &
knocker=$!
disown "$knocker"	# killed below, without a job report
pid1_bg="$pid1_bg $knocker"
restarts=$(prop NRestarts)
t0=$SECONDS
pid=$(prop MainPID)
for i in $(seq 10); do
	ns kill -KILL "$pid" ||
	    fail "crash loop: cannot kill daemon $i of 10 (pid $pid)"
	deadline=$((SECONDS + 20))
	until p=$(prop MainPID) && [ "$p" != 0 ] && [ "$p" != "$pid" ]; do
		if [ "$SECONDS" -ge "$deadline" ] ||
		    [ "$(prop ActiveState)" = failed ]; then
			fail "crash loop: no new daemon after SIGKILL $i" \
			    "of 10: $(unit_state)"
		fi
	done
	pid=$p
done
echo "crash loop: 10 SIGKILLs, each at a new MainPID, in $((SECONDS - t0)) s"

declare -A killed=()
nkilled=0 t0=$SECONDS deadline=$((SECONDS + 60))
burst_base=$(prop NRestarts)
while :; do
	for p in $(pid1_service_pids); do
		[ -n "${killed[$p]:-}" ] && continue
		killed[$p]=1
		kill -KILL "$p" 2>/dev/null && nkilled=$((nkilled + 1))
	done
	# Keepers die with their daemon too: count the restarts, not kills.
	if [ "$nkilled" -ge 10 ] &&
	    [ $(($(prop NRestarts) - burst_base)) -ge 10 ]; then
		break
	fi
	[ "$SECONDS" -lt "$deadline" ] || fail "crash loop: the burst got to" \
	    "$nkilled kills, $(($(prop NRestarts) - burst_base)) restarts in" \
	    "60 s: $(unit_state)"
done
echo "crash loop: a burst of $nkilled SIGKILLs in $((SECONDS - t0)) s"
wait_for 30 up || fail "crash loop: the service did not come back: $(unit_state)"
sockets_active || fail "crash loop: a socket unit is down: $(unit_state)"
grep -q "Trigger limit hit" "$work/console.log" &&
    fail "crash loop: a socket unit hit its trigger limit"
echo "crash loop: $(($(prop NRestarts) - restarts)) restarts; $(unit_state)"
for r in keep cfg-one huge cfg-two; do
	listed "$r" || { adm list; fail "crash loop: region $r is gone"; }
done
after_restart loop-adm
after_restart loop-vm
echo "crash loop: every region back with its data, holders re-claimed"

# --- A configuration that does not load, at a restart ----------------------
# shmbrokerd exits 78 (EX_CONFIG) when its file does not load. The unit
# treats that like any other failure (no RestartPreventExitStatus=): it
# keeps restarting at RestartSec=, the sockets stay up and the fd store
# with them, so fixing the file brings the daemon back with every region.
conf=$work/etc/shmbroker/shmbroker.conf
cp "$conf" "$work/good.conf"
# (the last section is [region cfg-two], which has no such setting)
echo "no_such_setting = 1" >>"$conf"
bad_line=$(wc -l <"$conf")
restarts=$(prop NRestarts)
ns kill -KILL "$(prop MainPID)" || fail "cannot kill the daemon"
config_loop() {
	[ "$(prop ExecMainStatus)" = 78 ] &&
	    [ $(($(prop NRestarts) - restarts)) -ge 3 ]
}
wait_for 30 config_loop ||
    fail "a bad configuration did not make restarts exit 78: $(unit_state)"
[ "$(prop ActiveState)" = activating ] ||
    fail "with a bad configuration the service is not retrying: $(unit_state)"
sockets_active ||
    fail "with a bad configuration a socket unit went down: $(unit_state)"
grep -q "shmbroker.conf:$bad_line: " "$work/daemon.log" ||
    fail "the daemon did not say which line of the file is wrong"
echo "bad configuration: restarts exit 78 and go on; $(unit_state)"
cp "$work/good.conf" "$conf"
wait_for 30 up || fail "the fixed file did not bring the daemon back: $(unit_state)"
for r in keep cfg-one huge cfg-two loop-adm; do
	listed "$r" ||
	    { adm list; fail "region $r is gone after the bad configuration"; }
done
out=$(ns timeout 30 "$attach" --check /run/shmbroker/vmm.sock loop-adm) ||
    { echo "$out"; fail "loop-adm lost its data to the bad configuration"; }
grep -q "Trigger limit hit" "$work/console.log" &&
    fail "bad configuration: a socket unit hit its trigger limit"
pid1_kill_tree "$knocker"
# A knock queued just before the kill would start the service again right
# after the stop below: one round trip after it, and the daemon has
# accepted (and seen closed) every connection queued before.
adm status >/dev/null || fail "no status after the knocker stopped"
echo "bad configuration fixed: the daemon is back with every region"

# --- Stop -----------------------------------------------------------------
sctl stop shmbrokerd.service || fail "systemctl stop failed"
[ "$(prop ActiveState)" = inactive ] ||
    fail "service is $(prop ActiveState) after stop"
ns test -S /run/shmbroker/vmm.sock ||
    fail "stopping the service removed the sockets of the socket units"
sctl stop shmbrokerd.socket shmbrokerd-admin.socket ||
    fail "cannot stop the socket units"

pid1_poweroff
echo "PASS"
