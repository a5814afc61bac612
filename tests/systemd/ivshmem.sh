#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Stock QEMU on the broker's ivshmem exports the way they are deployed:
# the units of systemd/ under a real systemd as PID 1 of private
# namespaces (lib-pid1.sh, as in pid1.sh and tenancy.sh), and QEMUs
# (Debian's qemu-system-x86_64, driven over qtest by qtest-tool: no guest
# OS, no KVM) and libshmclient clients (sd-attach) as real tenant uids
# (setpriv):
#   acme   uid A   tenant acme, prefix acme/
#   beta   uid B   tenant beta, prefix beta/
# Checked: `shmctl export` of an admin region into the unit's
# RuntimeDirectory= (/run/shmbroker/ivshmem) makes a socket of mode 0666;
# acme's QEMU joins it at index 0, shows in `shmctl clients` with its
# real uid, and shares bytes and doorbells both ways with an acme client;
# beta's QEMU is refused the region in acme's prefix ("server sent version
# -13, expecting 0") and counted; an export anywhere else is refused with
# a message that says where exports go; a configured export
# (`ivshmem =`) is there at start. After `systemctl restart`, where the
# fd store keeps the memory and the export sockets, both exports are
# served again, bytes written before the restart are read by a new QEMU
# after it, and a QEMU that was connected across it still shares memory
# with the new members; after a crash (SIGKILL) a QEMU that starts before
# the next daemon is up joins it. Last, hostile holders of eventfds: an
# acme member that made its own eventfd blocking and full is rung by a
# QEMU (through the daemon's relay) and directly by a client, and a peer
# (ivs-poison) that made its vector eventfds blocking leaves and joins
# again (the daemon drains them); after each, the client that rang goes
# on, beta still creates a region and the daemon answers shmctl. Every
# check prints "ok" or "FAIL"; the test fails at the end if any did.
#
# Usage: ivshmem.sh SHMBROKERD SHMCTL SD_ATTACH QTEST_TOOL IVS_POISON
#                   UNITS_SRC_DIR BOOT_SCRIPT WORK_PARENT
# Exit status: 0 pass, 1 fail, 77 skipped (prerequisite missing).
set -uo pipefail
if [ $# -ne 8 ]; then
	echo "usage: $0 SHMBROKERD SHMCTL SD_ATTACH QTEST_TOOL IVS_POISON" \
	    "UNITS_SRC_DIR BOOT_SCRIPT WORK_PARENT" >&2
	exit 2
fi
shmbrokerd=$(realpath "$1") shmctl=$(realpath "$2") attach=$(realpath "$3")
tool=$(realpath "$4") poison=$(realpath "$5") unitsrc=$(realpath "$6")
boot=$(realpath "$7") parent=$(realpath "$8")

. "$(dirname "$(realpath "$0")")/lib-pid1.sh"

command -v qemu-system-x86_64 >/dev/null ||
    skip "qemu-system-x86_64 is not installed (Debian: qemu-system-x86)"
qemu-system-x86_64 -device help 2>/dev/null | grep -q '"ivshmem-doorbell"' ||
    skip "this QEMU has no ivshmem-doorbell device"

pid1_prepare ivshmem
pid1_install
pid1_add_users acme beta
A=${pid1_uid[acme]} B=${pid1_uid[beta]}
ivs=/run/shmbroker/ivshmem

# fd_store = yes: region memory outlives `systemctl restart`.
cat >"$work/etc/shmbroker/shmbroker.conf" <<EOF
[broker]
log_level = info
fd_store = yes

[tenant acme]
uid = $A
prefix = acme/

[tenant beta]
uid = shmt-beta
prefix = beta/

[region acme/x]
size = 64K
ivshmem = $ivs/x.sock
EOF
chmod -R a+rX "$work/etc/shmbroker"
# QEMU's stderr goes to a file in TMPDIR (qtest-tool), as any uid.
mkdir -m 1777 "$work/tmp"
export TMPDIR=$work/tmp

pid1_boot
echo "ids: acme $A, beta $B"
sctl start shmbrokerd.socket shmbrokerd-admin.socket ||
    fail "cannot start the socket units"
adm status >/dev/null || fail "shmctl status did not start the daemon"
wait_for 20 up || fail "the service is $(prop ActiveState)/$(prop SubState)"

# qemu WHO SOCKET STEP...: qtest-tool as WHO's uid, in the namespaces.
qemu() {
	local u=${pid1_uid[$1]} s=$2; shift 2
	pid1_as "$u" "$u" timeout 30 "$tool" "$s" 1 "$@"
}
# spawn NAME CMD...: CMD in the background, its output in $work/NAME.out;
# killed by the cleanup if the test ends first.
spawn() {
	local n=$1; shift
	"$@" >"$work/$n.out" 2>&1 &
	pid1_bg="$pid1_bg $!"
	eval "pid_$n=$!"
}
# said NAME TEXT: whether NAME's output has a line TEXT (so far).
said() { grep -qxF -- "$2" "$work/$1.out"; }
# line NAME N: line N of NAME's output.
line() { sed -n "$2p" "$work/$1.out"; }
sock() { ns stat -c %F:%a:%U "$1" 2>&1; }

echo "--- the unit's export directory, a configured export"
check "$ivs: root's /run/shmbroker, the daemon's ivshmem/" \
    "755:root 755:shmbroker" \
    "$(ns stat -c %a:%U /run/shmbroker) $(ns stat -c %a:%U $ivs)"
check "configured export $ivs/x.sock exists at start" "socket:666:shmbroker" \
    "$(sock $ivs/x.sock)"

echo "--- shmctl export of an admin region, a QEMU as acme's uid"
adm create acme/s 64K >/dev/null || fail "shmctl create acme/s failed"
out=$(adm export acme/s --ivshmem $ivs/s.sock 2>&1)
check "shmctl export acme/s --ivshmem $ivs/s.sock" 0 "$?"
check "its socket is mode 0666" "socket:666:shmbroker" "$(sock $ivs/s.sock)"
spawn qa qemu acme $ivs/s.sock ivposition write 0 "from acme's QEMU" \
    stay "$work/qa.go" msi 0 20000
wait_for 20 said qa stay ||
    { cat "$work/qa.out"; fail "acme's QEMU did not join"; }
check "acme's QEMU: IVPosition" "ivposition 0" "$(line qa 1)"
clients=$(adm --json clients)
check "shmctl clients: acme's QEMU with its real uid" \
    "\"region\":\"acme/s\",\"index\":0 \"uid\":$A" \
    "$(grep -o '"region":"acme/s","index":0' <<<"$clients") $(grep -o \
    '"uid":[0-9]*' <<<"$clients")"
# An acme client (index 1) reads what the QEMU wrote, rings it, and
# waits for a doorbell.
spawn ca pid1_as "$A" "$A" timeout 30 "$attach" --try /run/shmbroker/vmm.sock \
    find s 0 --expect "from acme's QEMU" --notify 0 --await 20000
wait_for 20 said ca "notified 0" ||
    { cat "$work/ca.out"; fail "acme's client did not attach"; }
check "acme's client reads the QEMU's bytes" "status=0 created=0 data=match" \
    "$(line ca 1)"
touch "$work/qa.go"
wait "$pid_qa"
check "acme's QEMU: the client's doorbell is its vector 0" "msi 0 yes" \
    "$(line qa 4)"
# A QEMU that joins after the client knows it from the start: one ring.
out=$(qemu acme $ivs/s.sock ivposition ring 1 0 2>&1)
rc=$?
pos=$(sed -n 's/^ivposition //p' <<<"$out")
check "a second QEMU of acme rings the client" "0 ring 1 0" \
    "$rc $(sed -n 2p <<<"$out")"
wait "$pid_ca"
check "the client's status names that QEMU" "pending 0x$((1 << ${pos:-0}))" \
    "$(line ca 3)"

echo "--- a QEMU of beta on acme's region"
out=$(qemu beta $ivs/s.sock ivposition 2>&1)
rc=$?
check "beta's QEMU exits while it starts" "3 qemu exited: status 1" \
    "$rc $(head -n 1 <<<"$out")"
grep -q "server sent version -13, expecting 0" <<<"$out"
check "beta's QEMU says it was refused (EACCES)" 0 "$?"
check "shmctl stats counts the refusal" '"ivshmem_refused":1' \
    "$(adm --json stats | grep -o '"ivshmem_refused":[0-9]*')"
grep -q "refused QEMU pid [0-9]* (uid $B, gid $B) for region acme/s" \
    "$work/daemon.log"
check "the daemon logs who was refused" 0 "$?"

echo "--- exports outside $ivs"
for p in /run/x.sock /run/shmbroker/x.sock /tmp/x.sock /var/tmp/x.sock; do
	out=$(adm export acme/s --ivshmem "$p" 2>&1)
	check "shmctl export on $p is refused (EX_DATAERR)" 65 "$?"
	grep -q "exports go in $ivs (RuntimeDirectory=)" <<<"$out"
	check "the refusal of $p says where exports go" 0 "$?"
done
echo "     shmctl said: $out"
# The same for the configuration file, at a reload.
cp "$work/etc/shmbroker/shmbroker.conf" "$work/shmbroker.conf.good"
printf '\n[region acme/y]\nsize = 64K\nivshmem = /tmp/y.sock\n' \
    >>"$work/etc/shmbroker/shmbroker.conf"
out=$(adm reload 2>&1)
echo "     shmctl reload: exit $?, $out"
want="cannot export region acme/y on /tmp/y.sock: under systemd, exports"
grep -q "\[region acme/y\]: $want go in $ivs" <<<"$out"
check "a reload with ivshmem = /tmp/y.sock says where exports go" 0 "$?"
cp "$work/shmbroker.conf.good" "$work/etc/shmbroker/shmbroker.conf"
adm reload >/dev/null || fail "shmctl reload of the good configuration failed"

echo "--- systemctl restart: the exports back from the fd store, the memory kept"
out=$(pid1_as "$A" "$A" timeout 30 "$attach" --try /run/shmbroker/vmm.sock \
    find x 0 --write "before the restart" 2>&1)
check "acme's client writes into acme/x" "status=0 created=0 data=written" \
    "$(head -n 1 <<<"$out")"
# This QEMU stays connected across the restart.
spawn qx qemu acme $ivs/x.sock ivposition read 0 "before the restart" \
    stay "$work/qx.go" read 0 "after the restart"
wait_for 20 said qx stay ||
    { cat "$work/qx.out"; fail "the QEMU on x.sock did not join"; }
check "a QEMU on x.sock reads the client's bytes" "read 0x0 match" \
    "$(line qx 2)"
pid=$(prop MainPID)
sctl restart shmbrokerd.service || fail "systemctl restart failed"
wait_for 20 up || fail "the service is $(prop ActiveState)/$(prop SubState)"
check "the restart made a new daemon" yes \
    "$([ "$(prop MainPID)" != "$pid" ] && echo yes || echo no)"
check "x.sock (configured) and s.sock (shmctl export) are there" \
    "socket:666:shmbroker socket:666:shmbroker" \
    "$(sock $ivs/x.sock) $(sock $ivs/s.sock)"
check "shmctl show lists the export of acme/s again" \
    "\"ivshmem\":\"$ivs/s.sock\"" \
    "$(adm --json show acme/s | grep -o '"ivshmem":"[^"]*"')"
out=$(qemu acme $ivs/x.sock ivposition read 0 "before the restart" \
    write 0 "after the restart" 2>&1)
check "a new QEMU joins x.sock at index 0, reads the bytes of before" \
    "ivposition 0 read 0x0 match" "$(head -n 2 <<<"$out" | tr '\n' ' ' |
    sed 's/ $//')"
touch "$work/qx.go"
wait "$pid_qx"
check "the QEMU from before the restart reads the new QEMU's bytes" \
    "read 0x0 match" "$(line qx 4)"

echo "--- a crash: a QEMU that starts while the daemon is away joins"
pid=$(prop MainPID)
sctl kill -s KILL shmbrokerd.service || fail "systemctl kill failed"
state=$(prop SubState)
# The socket stays (RuntimeDirectoryPreserve=restart) and systemd holds
# it in the fd store: the QEMU waits in its backlog for the next daemon.
out=$(qemu acme $ivs/s.sock ivposition read 0 "from acme's QEMU" 2>&1)
check "a QEMU started after the crash joins s.sock, reads its bytes" \
    "ivposition 0 read 0x0 match" "$(head -n 2 <<<"$out" | tr '\n' ' ' |
    sed 's/ $//')"
echo "     (it started while the service was $state)"
check "the crash made a new daemon" yes \
    "$(up && [ "$(prop MainPID)" != "$pid" ] && echo yes || echo no)"

echo "--- eventfds a member or a QEMU made blocking stall nobody"
# O_NONBLOCK is the open file description's, which every holder of an
# eventfd shares: a member can clear it on its own eventfd and fill the
# counter, a QEMU on the vector eventfds it was given. The daemon's wakes
# and drains must not wait on them (proto/wake.h), nor a peer's. A daemon
# that did would be killed by the watchdog and restarted, which would
# hide the stall from the next client: the same MainPID is checked too.
pid=$(prop MainPID)
unstalled() {
	local out
	out=$(pid1_as "$B" "$B" timeout 20 "$attach" --try \
	    /run/shmbroker/vmm.sock create "$1" 16 2>&1)
	check "then beta, another tenant, still creates a region" \
	    "status=0 created=1 data=-" "$(head -n 1 <<<"$out")"
	check "and the daemon still answers shmctl status" 0 \
	    "$(adm status >/dev/null 2>&1; echo $?)"
	check "and it is the same daemon (no watchdog restart)" "$pid" \
	    "$(prop MainPID)"
}
d=$work/stay-poison
mkdir "$d" && chown "$A" "$d" || fail "cannot create $d"
spawn cp pid1_as "$A" "$A" timeout 120 "$attach" --try \
    /run/shmbroker/vmm.sock find s 0 --poison --stay "$d"
wait_for 20 test -e "$d/ready" ||
    { cat "$work/cp.out"; fail "acme's hostile member did not attach"; }
idx=$(sed -n 's/^poisoned //p' "$work/cp.out")
echo "     acme's member at index $idx made its eventfd blocking and full"
out=$(pid1_as "$A" "$A" timeout 20 "$attach" --try /run/shmbroker/vmm.sock \
    find s 0 --notify "$idx" 2>&1)
check "an acme client rings it directly and is not held" "0 notified $idx" \
    "$? $(sed -n 2p <<<"$out")"
out=$(qemu acme $ivs/s.sock ivposition ring "$idx" 0 2>&1)
check "acme's QEMU rings it (the daemon relays to that eventfd)" \
    "0 ring $idx 0" "$? $(sed -n 2p <<<"$out")"
unstalled after-member
touch "$d/done"
wait "$pid_cp"
out=$(pid1_as "$A" "$A" timeout 20 "$poison" $ivs/s.sock 2>&1)
rc=$?
echo "     ivs-poison: $(tr '\n' ' ' <<<"$out")"
check "a peer that made its vector eventfds blocking joins again" "0 yes" \
    "$rc $(grep -q '^rejoined [0-9]*$' <<<"$out" && echo yes || echo no)"
unstalled after-qemu

pid1_poweroff
pid1_verdict
