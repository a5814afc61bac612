#!/bin/sh
# SPDX-License-Identifier: ISC
# run-in-vm.sh: runs one command inside a throwaway Linux VM that has a
# working /dev/kvm, for hosts that have none (this project's CI machines run
# inside a kvm_pvm microVM that offers no KVM of its own). QEMU emulates an
# AMD CPU with SVM in software (TCG); the Debian kernel in the VM loads
# kvm-amd on it, so the command meets the real KVM API with nested paging.
# The host's root filesystem is shared read-only over 9p and becomes the
# VM's root under an overlay whose writes stay in the VM's memory, with a
# fresh /run: the command runs the binaries of
# the host's build tree, unchanged. Its output comes back on the serial
# console; its exit status is ours.
#
# usage: run-in-vm.sh [--mem SIZE] [--cpus N] [--hugepages N]
#                     [--timeout SECONDS] [--retries N] [--if-no-kvm]
#                     -- COMMAND [ARG...]
# --if-no-kvm skips (77) on a host whose own /dev/kvm works, where the same
# tests run directly. --retries runs a command that outlived --timeout
# again in a fresh VM, at most N more times, after printing where each of
# its processes waited (see dump_vm). One vCPU by default: with two,
# QEMU 7.2's TCG has been seen to freeze the VM (both vCPUs in soft
# lockup) after a minute or two of nested guests.
# Exits 77 (ctest's "skipped") when QEMU, a kernel with kvm-amd or busybox
# is missing, saying which package to install.
set -eu

mem=3G cpus=1 hugepages=0 timeout=900 retries=0 if_no_kvm=0
while [ $# -gt 0 ]; do
	case $1 in
	--mem) mem=$2; shift 2 ;;
	--cpus) cpus=$2; shift 2 ;;
	--hugepages) hugepages=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--retries) retries=$2; shift 2 ;;
	--if-no-kvm) if_no_kvm=1; shift ;;
	--) shift; break ;;
	*) echo "run-in-vm: unknown option $1" >&2; exit 2 ;;
	esac
done
[ $# -gt 0 ] || { echo "run-in-vm: no command given" >&2; exit 2; }

# Each value alone, before any skip, so that a bad one in a caller fails
# on every host. A unit only for --mem: [ N -ge 2G ] fails, an if reads
# that as false, and --timeout 2G would never time out.
number() {	# option value least
	case $2 in
	'' | *[!0-9]*) echo "run-in-vm: $1 takes a whole number, not '$2'" >&2; exit 2 ;;
	esac
	[ "$2" -ge "$3" ] || { echo "run-in-vm: $1 must be at least $3" >&2; exit 2; }
}
number --cpus "$cpus" 1
number --hugepages "$hugepages" 0
number --timeout "$timeout" 1
number --retries "$retries" 0
case ${mem%[MGK]} in
'' | *[!0-9]*) echo "run-in-vm: --mem takes a whole number, optionally followed by M, G or K, not '$mem'" >&2; exit 2 ;;
esac
number --mem "${mem%[MGK]}" 1

skip() { echo "run-in-vm: skipped: $*" >&2; exit 77; }

if [ $if_no_kvm = 1 ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	skip "this host has /dev/kvm; the KVM tests run directly"
fi
qemu=$(command -v qemu-system-x86_64 || true)
[ -n "$qemu" ] || skip "qemu-system-x86_64 not found (apt-get install qemu-system-x86)"
busybox=/bin/busybox
[ -x "$busybox" ] || skip "busybox is missing (apt-get install busybox-static)"
! readelf -l "$busybox" 2>/dev/null | grep -q "program interpreter" ||
	skip "$busybox is linked dynamically (apt-get install busybox-static)"

# The newest installed kernel that has kvm-amd and the 9p modules.
kver=
for v in $(ls /lib/modules 2>/dev/null | sort -V -r); do
	if [ -f "/boot/vmlinuz-$v" ] &&
	    ls /lib/modules/$v/kernel/arch/x86/kvm/kvm-amd.ko* >/dev/null 2>&1 &&
	    ls /lib/modules/$v/kernel/fs/9p/9p.ko* >/dev/null 2>&1; then
		kver=$v
		break
	fi
done
[ -n "$kver" ] || skip "no kernel with kvm-amd in /boot (apt-get install linux-image-amd64)"

work=$(mktemp -d /tmp/run-in-vm.XXXXXX)
qpid=
trap 'rm -rf "$work"' EXIT
trap '[ -n "$qpid" ] && kill $qpid 2>/dev/null; exit 143' INT TERM
mkdir -p "$work/root/bin" "$work/root/mods" "$work/root/dev" \
    "$work/root/proc" "$work/root/sys" "$work/root/mnt" "$work/out"
cp "$busybox" "$work/root/bin/busybox"

# Modules in dependency order; xz-compressed ones are unpacked, since
# busybox's insmod takes plain ELF.
kdir=/lib/modules/$kver/kernel
for m in virt/lib/irqbypass arch/x86/kvm/kvm drivers/crypto/ccp/ccp \
    arch/x86/kvm/kvm-amd drivers/virtio/virtio_ring drivers/virtio/virtio \
    drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci_legacy_dev \
    drivers/virtio/virtio_pci fs/netfs/netfs fs/fscache/fscache \
    net/9p/9pnet net/9p/9pnet_virtio fs/9p/9p fs/overlayfs/overlay; do
	name=$(basename "$m").ko
	if [ -f "$kdir/$m.ko" ]; then
		cp "$kdir/$m.ko" "$work/root/mods/$name"
	elif [ -f "$kdir/$m.ko.xz" ]; then
		xz -dc "$kdir/$m.ko.xz" > "$work/root/mods/$name"
	else
		continue	# built into this kernel
	fi
	echo "$name" >> "$work/root/mods/order"
done

cat > "$work/root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /mods/order); do
	insmod "/mods/$m" 2>/dev/null || echo "run-in-vm: insmod $m failed"
done
r=/mnt
mkdir -p /lower /rw
if ! mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 host /lower; then
	echo "run-in-vm: cannot mount the host's root"; poweroff -f
fi
# The host's files, writable through an overlay whose changes stay in
# the VM's memory: a build tree anywhere, /tmp included, is seen as it is.
mount -t tmpfs rw /rw
mkdir -p /rw/upper /rw/work
if ! mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work $r; then
	echo "run-in-vm: cannot mount the overlay on the host's root"; poweroff -f
fi
mount -t tmpfs run $r/run
mount -t devtmpfs dev $r/dev
mount -t proc proc $r/proc
mount -t sysfs sys $r/sys
mkdir -p $r/tmp/run-in-vm
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 out $r/tmp/run-in-vm
# The heartbeat tells the host the VM's clock still runs (see below).
# Asked by the host (a file "dump"), it writes what every process is
# waiting for, in the kernel and in user space, before a timeout kills
# the VM: a command that hangs says where.
o=$r/tmp/run-in-vm
( while :; do
	date +%s > $o/heartbeat
	if [ -e $o/dump ]; then
		rm -f $o/dump
		for p in /proc/[0-9]*; do
			pid=${p#/proc/}
			exe=$(readlink $p/exe 2>/dev/null) || continue
			[ "$exe" != /bin/busybox ] || continue
			echo "== pid $pid: $(tr '\0' ' ' < $p/cmdline)"
			grep -E '^(State|PPid|Cpus_allowed_list):' $p/status
			for t in $p/task/*; do
				echo "-- task ${t##*/} $(cat $t/comm) wchan $(cat $t/wchan)"
				cat $t/stack 2>/dev/null
			done
			timeout 20 chroot $r gdb -batch -p $pid \
			    -ex 'thread apply all bt' 2>&1 | grep -E '^(#|Thread )'
		done > $o/dump.out 2>&1
		echo done > $o/dump.done
	fi
	sleep 2
done ) &
chroot $r /bin/sh /tmp/run-in-vm/job.sh > $r/tmp/run-in-vm/output 2>&1
echo $? > $r/tmp/run-in-vm/status
sync
poweroff -f
INIT
chmod 755 "$work/root/init"
(cd "$work/root" && find . | cpio -o -H newc 2>/dev/null) | gzip -1 > "$work/initrd"

# The job: the caller's directory and command, quoted for sh.
quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
{
	echo "[ -e /dev/kvm ] || { echo 'run-in-vm: kvm-amd did not give /dev/kvm'; exit 1; }"
	[ "$hugepages" = 0 ] || echo "echo $hugepages > /proc/sys/vm/nr_hugepages"
	echo "export PATH=$(quote "$PATH") HOME=/tmp SHM_VM_IN_QEMU=1"
	echo "cd $(quote "$PWD") || exit 1"
	printf "exec"
	for a in "$@"; do
		printf " %s" "$(quote "$a")"
	done
	echo
} > "$work/out/job.sh"

# The command's output goes to a file on the shared folder, which this
# loop copies out as it grows: the serial console has been seen to lose
# a job's output when the VM powers off right after it.
shown=0
show_new() {
	size=$(stat -c %s "$work/out/output" 2>/dev/null || echo 0)
	if [ "$size" -gt "$shown" ]; then
		tail -c +$((shown + 1)) "$work/out/output" | head -c $((size - shown))
		shown=$size
	fi
}

# One boot. QEMU 7.2's TCG has been seen to freeze a VM running nested
# guests: its clock stops and everything in it waits. The heartbeat that
# init writes every 2 s tells that apart from a slow command; a VM
# without one for FREEZE_S seconds is killed (frozen=1).
FREEZE_S=${RUN_IN_VM_FREEZE_S:-45}
boot() {
	rm -f "$work/out/status" "$work/out/heartbeat" "$work/out/dump" \
	    "$work/out/dump.done" "$work/out/dump.out"
	: > "$work/out/output"
	shown=0 frozen=0 timed_out=0
	# -cpu EPYC has SVM with nested paging under TCG.
	"$qemu" -accel tcg -cpu EPYC,+svm -smp "$cpus" -m "$mem" \
	    -nographic -no-reboot -nodefaults -serial stdio \
	    -kernel "/boot/vmlinuz-$kver" -initrd "$work/initrd" \
	    -append "console=ttyS0 quiet loglevel=1 panic=-1" \
	    -virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap \
	    -virtfs "local,path=$work/out,mount_tag=out,security_model=none" \
	    </dev/null >"$work/console" 2>&1 &
	qpid=$!
	started=$(date +%s)
	while kill -0 "$qpid" 2>/dev/null; do
		sleep 1
		show_new
		now=$(date +%s)
		beat=$(stat -c %Y "$work/out/heartbeat" 2>/dev/null || echo "$started")
		[ "$beat" -ge "$started" ] || beat=$started
		if [ $((now - started)) -ge "$timeout" ]; then
			dump_vm
			# a command that ended during the dump did not time out
			[ -f "$work/out/status" ] || timed_out=1
		elif [ $((now - beat)) -ge $FREEZE_S ]; then
			frozen=1
		else
			continue
		fi
		kill "$qpid" 2>/dev/null
		break
	done
	wait "$qpid" 2>/dev/null
	qpid=
	show_new
}

# Before a timeout kills the VM: where each of its processes waits (see
# init), given at most DUMP_S seconds.
DUMP_S=90
dump_vm() {
	: > "$work/out/dump"
	waited=0
	while [ ! -e "$work/out/dump.done" ] && [ $waited -lt $DUMP_S ] &&
	    kill -0 "$qpid" 2>/dev/null; do
		sleep 1
		waited=$((waited + 1))
	done
	if [ -e "$work/out/dump.done" ]; then
		echo "run-in-vm: the VM's processes at the timeout:" >&2
	elif ! kill -0 "$qpid" 2>/dev/null; then
		echo "run-in-vm: the VM ended while it wrote the dump" >&2
	else
		echo "run-in-vm: the VM's dump of its processes, cut at $DUMP_S s:" >&2
	fi
	cat "$work/out/dump.out" >&2 2>/dev/null
}

# Freezes come at random, and on a loaded host a second one in a row was
# seen too (a CI run of the bench): three boots at most. A timeout is
# retried only when the caller asked (--retries).
BOOTS=3
freezes=0 timeouts=0
while :; do
	boot
	if [ $frozen = 1 ] && [ $((freezes += 1)) -lt $BOOTS ]; then
		echo "run-in-vm: the VM froze (no heartbeat for $FREEZE_S s); booting it again" >&2
	elif [ $timed_out = 1 ] && [ $timeouts -lt "$retries" ]; then
		: $((timeouts += 1))
		echo "run-in-vm: the command was still running after" \
		    "$timeout s (--timeout); running it again in a fresh VM" \
		    "(retry $timeouts of $retries)" >&2
	else
		break
	fi
done
if [ ! -f "$work/out/status" ]; then
	if [ $timed_out = 1 ]; then
		echo "run-in-vm: the command was still running after $timeout s (--timeout)" >&2
	elif [ $frozen = 1 ]; then
		echo "run-in-vm: the VM froze $BOOTS times" >&2
	else
		echo "run-in-vm: the VM ended without the command's exit status; its console:" >&2
		grep -v "^qemu-system-x86_64: warning: TCG doesn't support" "$work/console" | tail -20 >&2
	fi
	exit 1
fi
exit "$(cat "$work/out/status")"
