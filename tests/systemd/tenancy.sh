#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Tenancy under the shipped units, with real uids (issue 10, "Tests").
# The units of systemd/ run under a real systemd as PID 1 of private
# namespaces (lib-pid1.sh), changed only by the test drop-ins that every
# PID 1 test needs, plus SocketGroup=/SocketMode=0660 on the admin socket
# for admin_group, as systemd/README.md tells deployers to do. VMMs run as
# real uids in the namespaces (setpriv), from users and groups added to
# the test's copy of the user database:
#   acme    uid A            tenant acme, prefix acme/
#   beta    uid B            tenant beta, prefix beta/ (uid given by name)
#   lab     uid L, gid L     tenant lab, matched by gid (by name), no prefix
#   other   uid O            no tenant matches: the default tenant, guests
#   admin   uid D, gid D     admin_group, on the admin socket
# plus acme with lab's gid (uid beats gid) and acme with gid S (tenant
# acme-ops names uid A and gid S: uid and gid beat uid).
# Each tenant's own create, write, find and read must work; every
# cross-tenant attempt (another prefix, "../", an embedded prefix, glob
# characters, case, names of 31/32/63/64 bytes, bytes that are not
# printable) is refused with the status the README promises and never
# shows another tenant's data; a configured region of mode 0644 is
# read-only for the VMMs of other users, whose every way to write fails
# under the sandboxed daemon too; `shmctl clients` shows real uids; the admin
# group may use the admin socket and others may not. Last, the daemon with
# tenants refuses to start under a drop-in with PrivateUsers=yes (where
# every peer would look like 65534), in one log line, and comes back once
# the drop-in is gone.
#
# The attempts are not stopped by the first failure (check, lib-pid1.sh).
#
# Usage: tenancy.sh SHMBROKERD SHMCTL SD_ATTACH UNITS_SRC_DIR BOOT_SCRIPT
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

pid1_prepare tenancy
pid1_install

# --- Users, groups, configuration -----------------------------------------
pid1_add_users acme beta lab admins other ops
A=${pid1_uid[acme]} B=${pid1_uid[beta]} L=${pid1_uid[lab]}
D=${pid1_uid[admins]} O=${pid1_uid[other]} S=${pid1_uid[ops]}

# The tenant matched by gid comes first in the file: a daemon that takes
# the first match instead of the most specific one serves acme-with-lab's-
# gid as lab.
cat >"$work/etc/shmbroker/shmbroker.conf" <<EOF
[broker]
log_level = info
default_tenant = guests
admin_group = shmt-admins

[tenant lab]
gid = shmt-lab

[tenant acme]
uid = $A
prefix = acme/

[tenant beta]
uid = shmt-beta
prefix = beta/

[tenant acme-ops]
uid = $A
gid = $S
prefix = ops/

[tenant guests]
mode = 0600

[region board]
size = 64K
mode = 0644
EOF
chmod -R a+rX "$work/etc/shmbroker"

# admin_group needs the admin socket reachable by the group.
mkdir -p "$work/units/shmbrokerd-admin.socket.d"
cat >"$work/units/shmbrokerd-admin.socket.d/test.conf" <<EOF
[Socket]
SocketMode=0660
SocketGroup=shmt-admins
EOF

pid1_boot
echo "ids: acme $A, beta $B, lab $L, admins $D, other $O, ops $S"
sctl start shmbrokerd.socket shmbrokerd-admin.socket ||
    fail "cannot start the socket units"
[ "$(ns stat -c %a:%G /run/shmbroker/admin.sock)" = 660:shmt-admins ] ||
    fail "admin.sock is not mode 0660, group shmt-admins"
adm status >/dev/null || fail "shmctl status (root) did not start the daemon"
wait_for 20 up || fail "the service is $(prop ActiveState)/$(prop SubState)"
# Starting the service must not take the socket's group away.
check "admin.sock keeps its group once the service runs" \
    "660:root:shmt-admins" "$(ns stat -c %a:%U:%G /run/shmbroker/admin.sock)"

# --- Attempts -------------------------------------------------------------
declare -A who=(
	[acme]="$A $A" [beta]="$B $B" [lab]="$L $L" [other]="$O $O"
	[admin]="$D $D" [acme-with-lab-gid]="$A $L" [acme-with-ops-gid]="$A $S"
)
# as WHO CMD...: CMD in the namespaces as WHO's uid and gid, no other groups.
as() {
	local ids=(${who[$1]}); shift
	pid1_as "${ids[0]}" "${ids[1]}" "$@"
}

OK_NEW="status=0 created=1 data=-"	# made a region
SEES="status=0 created=0 data=match"	# found it, with the expected text
FRESH="status=0 created=1 data=other"	# made a new one: not that text
ILLEGAL="status=4 created=0 data=-"
NOPERM="status=5 created=0 data=-"
NOTHERE="status=6 created=0 data=-"

# attempt WHO create|find NAME WANT [--expect TEXT | --write TEXT]: one VMM
# attach as WHO; WANT is the line sd-attach --try must print.
attempt() {
	local w=$1 op=$2 name=$3 want=$4 got
	shift 4
	got=$(as "$w" timeout 20 "$attach" --try /run/shmbroker/vmm.sock \
	    "$op" "$name" 16 "$@" 2>&1 | head -n 1)
	check "$w: $op '$name'${1:+ $1 '$2'}" "$want" "$got"
}

# keep WHO NAME TEXT: WHO creates NAME, writes TEXT into it and stays
# attached (a guest region lives while it has clients) until the end.
stays=''
keep() {
	local d
	d=$work/stay-$1-$(tr -c 'a-zA-Z0-9\n' _ <<<"$2")
	mkdir "$d" && chown "${who[$1]%% *}" "$d" || fail "cannot create $d"
	as "$1" "$attach" --try /run/shmbroker/vmm.sock create "$2" 16 \
	    --write "$3" --stay "$d" >"$d.out" 2>&1 &
	pid1_bg="$pid1_bg $!"
	stays="$stays $d"
	wait_for 20 test -e "$d/ready" ||
	    { cat "$d.out"; fail "$1 could not create $2 and stay attached"; }
	check "$1: create '$2' --write '$3'" "status=0 created=1 data=written" \
	    "$(cat "$d/ready")"
}

echo "--- each tenant's own regions"
keep acme sensor-1 "acme: sensor-1"
keep beta x "beta: x"
keep lab lab-1 "lab: lab-1"
keep other guest-1 "guests: guest-1"
attempt acme find sensor-1 "$SEES" --expect "acme: sensor-1"
attempt beta find x "$SEES" --expect "beta: x"
attempt lab find lab-1 "$SEES" --expect "lab: lab-1"
attempt other find guest-1 "$SEES" --expect "guests: guest-1"
# The names the regions have, and their owners.
names=$(adm list | awk 'NR > 1 { print $2 }' | sort | tr '\n' ' ')
check "shmctl list: the regions are prefixed per tenant" \
    "acme/sensor-1 beta/x board guest-1 lab-1 " "$names"
owner() {
	adm --json show "$1" | grep -o '"owner_uid": *[0-9]*' | grep -o '[0-9]*$'
}
check "acme/sensor-1 is owned by acme's uid" "$A" "$(owner acme/sensor-1)"
check "beta/x is owned by beta's uid" "$B" "$(owner beta/x)"
check "lab-1 is owned by lab's uid" "$L" "$(owner lab-1)"
# Peer credentials as the daemon sees them.
uids=$(adm --json clients | grep -o '"uid": *[0-9]*' | grep -o '[0-9]*$' |
    sort -nu | tr '\n' ' ')
check "shmctl clients shows the VMMs' real uids" "$A $B $L $O " "$uids"

echo "--- matching: the most specific tenant"
attempt acme-with-lab-gid find sensor-1 "$SEES" --expect "acme: sensor-1"
attempt acme-with-ops-gid create sensor-1 "$FRESH" --expect "acme: sensor-1"

echo "--- the gid tenant (no prefix) against the prefixed ones"
attempt lab find acme/sensor-1 "$NOPERM" --expect "acme: sensor-1"
attempt lab create acme/sensor-1 "$NOPERM" --expect "acme: sensor-1"
attempt lab find acme/../acme/sensor-1 "$NOPERM" --expect "acme: sensor-1"
attempt lab find 'acme/*' "$NOPERM" --expect "acme: sensor-1"
attempt lab find beta/x "$NOPERM" --expect "beta: x"
# The same answer for a name that exists nowhere: it reveals nothing.
attempt lab find beta/nothing "$NOPERM"
# Taking over a name acme has not used yet.
attempt lab create acme/sensor-2 "$NOPERM"
attempt acme create sensor-2 "$OK_NEW"
# Glob characters are part of a name, never a pattern over others.
attempt lab find 'acme*' "$NOTHERE" --expect "acme: sensor-1"
attempt lab find '*' "$NOTHERE" --expect "acme: sensor-1"
# Case: a different region, in the shared names, not acme's.
attempt lab find ACME/sensor-1 "$NOTHERE" --expect "acme: sensor-1"
attempt lab create ACME/sensor-1 "$FRESH" --expect "acme: sensor-1"
# A 31-byte name is fine, unless it lies in acme's prefix.
attempt lab create "lab-$(printf 'x%.0s' {1..27})" "$OK_NEW"
attempt lab create "acme/$(printf 'x%.0s' {1..26})" "$NOPERM"
attempt lab find 'acme/sensor-1\x00' "$ILLEGAL" --expect "acme: sensor-1"
attempt lab find guest-1 "$NOPERM" --expect "guests: guest-1"

echo "--- prefixed tenants against each other and the shared names"
attempt acme find ../beta/x "$NOTHERE" --expect "beta: x"
attempt acme find beta/x "$NOTHERE" --expect "beta: x"
attempt acme create ../beta/x "$FRESH" --expect "beta: x"
attempt acme find '*' "$NOTHERE" --expect "acme: sensor-1"
attempt acme find 'sensor-*' "$NOTHERE" --expect "acme: sensor-1"
attempt acme find lab-1 "$NOTHERE" --expect "lab: lab-1"
attempt acme find guest-1 "$NOTHERE" --expect "guests: guest-1"
attempt beta find ../acme/sensor-1 "$NOTHERE" --expect "acme: sensor-1"
attempt beta find sensor-1 "$NOTHERE" --expect "acme: sensor-1"

echo "--- the default tenant"
attempt other find acme/sensor-1 "$NOPERM" --expect "acme: sensor-1"
attempt other create acme/sensor-1 "$NOPERM" --expect "acme: sensor-1"
attempt other find beta/x "$NOPERM" --expect "beta: x"
attempt other find lab-1 "$NOPERM" --expect "lab: lab-1"
attempt other find no-such-region "$NOTHERE"

echo "--- read-only access"
# The memfd the daemon (user shmbroker) hands out read-only cannot be
# mapped for writing, nor opened again for writing through /proc.
RO="status=0 created=0 data=match access=ro map=EACCES reopen=EACCES"
attempt other find board "$RO" --expect ""
attempt lab create board "$RO" --expect ""
attempt acme find board "$RO" --expect ""

echo "--- names the guest ABI does not allow"
attempt acme create "$(printf 'n%.0s' {1..31})" "$OK_NEW"
attempt acme create "$(printf 'n%.0s' {1..32})" "$ILLEGAL"
attempt acme create "$(printf 'n%.0s' {1..63})" "$ILLEGAL"
attempt acme create "$(printf 'n%.0s' {1..64})" "$ILLEGAL"
attempt acme create '' "$ILLEGAL"
attempt acme create 'sensor\x01' "$ILLEGAL"
attempt acme create 'sensor 1' "$ILLEGAL"
attempt acme create 'sensor-1\x00x' "$ILLEGAL"
attempt acme create 'sensor\x7f' "$ILLEGAL"
attempt acme create 'caf\xc3\xa9' "$ILLEGAL"
attempt lab create 'acme/\tsensor-1' "$ILLEGAL"

echo "--- the admin socket"
out=$(as admin timeout 10 "$shmctl" -s /run/shmbroker/admin.sock list 2>&1)
rc=$?
check "admin_group member: shmctl list exits 0" 0 "$rc"
grep -q "acme/sensor-1" <<<"$out"
check "admin_group member: shmctl list shows acme/sensor-1" 0 "$?"
# Not in the socket's group: the socket file's mode refuses the connect.
as other timeout 10 "$shmctl" -s /run/shmbroker/admin.sock list >/dev/null 2>&1
check "outsider: shmctl list cannot connect (exit 69)" 69 "$?"
# In the socket's group only as a supplementary group: it connects, and
# the daemon (which goes by the primary gid) refuses, saying why.
out=$(ns setpriv --reuid="$O" --regid="$O" --groups="$D" timeout 10 \
    "$shmctl" -s /run/shmbroker/admin.sock list 2>&1)
rc=$?
check "supplementary member: the daemon refuses shmctl list (exit 77)" 77 "$rc"
grep -q "admin_group" <<<"$out"
check "supplementary member: shmctl gives the daemon's reason" 0 "$?"
[ "$rc" = 0 ] || echo "     shmctl said: $out"

# Every holder detaches and exits.
for d in $stays; do touch "$d/done"; done

# --- PrivateUsers= is refused -----------------------------------------------
# Under PrivateUsers=yes every peer but root and the daemon's user looks
# like uid/gid 65534: with tenants the daemon must not run at all.
echo "--- a drop-in with PrivateUsers=yes"
sctl stop shmbrokerd.service >/dev/null 2>&1 || fail "systemctl stop failed"
printf '[Service]\nPrivateUsers=yes\n' \
    >"$work/units/shmbrokerd.service.d/private-users.conf"
sctl daemon-reload || fail "systemctl daemon-reload failed"
lines=$(wc -l <"$work/daemon.log")
restarts=$(prop NRestarts)
entered=$(prop ActiveEnterTimestampMonotonic)
sctl start shmbrokerd.service >/dev/null 2>&1
rc=$?
check "PrivateUsers=yes: systemctl start fails" failed \
    "$([ "$rc" != 0 ] && echo failed || echo "succeeded")"
# Between two attempts (RestartSec=), after two at least. One systemctl
# call, so that the three properties are of the same moment.
want="ExecMainStatus=78 Result=exit-code SubState=auto-restart "
refusing() {
	snap=$(sctl show -p SubState -p Result -p ExecMainStatus \
	    shmbrokerd.service | sort | tr '\n' ' ')
	[ $(($(prop NRestarts) - restarts)) -ge 2 ] && [ "$snap" = "$want" ]
}
wait_for 10 refusing
check "PrivateUsers=yes: the daemon exits 78, systemd retries" "$want" "$snap"
check "PrivateUsers=yes: the service is never active" "$entered" \
    "$(prop ActiveEnterTimestampMonotonic)"
said=$(tail -n +$((lines + 1)) "$work/daemon.log" | sort -u)
check "PrivateUsers=yes: each attempt logs one line, on uid_map" "1 yes" \
    "$(grep -c . <<<"$said") $(grep -q uid_map <<<"$said" && echo yes)"
echo "     the daemon said: $(head -n 1 <<<"$said")"
check "PrivateUsers=yes: the sockets stay up" "active active" \
    "$(sctl show -p ActiveState --value shmbrokerd.socket) $(sctl show -p \
    ActiveState --value shmbrokerd-admin.socket)"
# Without the drop-in the next restart (RestartSec=) succeeds by itself.
rm "$work/units/shmbrokerd.service.d/private-users.conf"
sctl daemon-reload || fail "systemctl daemon-reload failed"
wait_for 20 up
check "without PrivateUsers=: the service is back on its own" \
    "active/running" "$(prop ActiveState)/$(prop SubState)"
attempt acme create sensor-3 "$OK_NEW"

pid1_poweroff
pid1_verdict
