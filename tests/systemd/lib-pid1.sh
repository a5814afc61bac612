# SPDX-License-Identifier: ISC
# lib-pid1.sh: what the systemd-as-PID-1 tests (pid1.sh, tenancy.sh)
# share, sourced by them: a real systemd --system as PID 1 of private PID,
# mount, UTS, IPC, network and cgroup namespaces (pid1-boot.sh), with only
# the test's unit files, a private /run, /dev and user database, and
# read-only /proc/sys and /sys; the units of systemd/ substituted to run the
# build tree's shmbrokerd, plus a drop-in for what this machine needs; and a
# cleanup that takes down systemd, every process in the namespaces, the
# cgroup and the work dir on any exit, failures included.
#
# The sourcing script sets shmbrokerd (the daemon), unitsrc (systemd/ of
# the source tree), boot (pid1-boot.sh) and parent (where the work dir
# goes), then calls, in order:
#   pid1_prepare NAME  prerequisites (else exit 77), $work, the cleanup trap
#   (its own configuration: $work/etc, more drop-ins in $work/units)
#   pid1_install       user database with user shmbroker ($uid), the units,
#                      the base drop-in, $work/etc/shmbroker/
#   pid1_boot          systemd as PID 1 up and running; $spid is its pid
#   pid1_poweroff      at the end: systemd powers off, or the test fails
# It may define pid1_on_cleanup, run first by the cleanup (e.g. to restore
# a host setting it changed), and add the pids of background nsenter
# commands to $pid1_bg (killed by the cleanup).
# Helpers: skip, fail (with dump), wait_for, gone, ns (a command in the
# namespaces), sctl (systemctl there), prop (a property of the service),
# up (the service is active/running), adm (shmctl there on the admin
# socket, as root; the script sets $shmctl),
# pid1_as (a command there as a uid and gid), pid1_add_users (test users,
# after pid1_install), check and pid1_verdict (checks that do not stop the
# test: every one prints "ok" or "FAIL", and the verdict at the end fails
# the test if any did, so that one run shows everything that is wrong).

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; dump; exit 1; }

upid='' spid='' work='' cg='' pid1_bg=''
nchecks=0 failed=()
declare -A pid1_uid=()

ns() { nsenter -t "$spid" -m -p "$@"; }
# pid1_as UID GID CMD...: CMD in the namespaces as UID and GID, no other
# groups.
pid1_as() {
	local u=$1 g=$2; shift 2
	ns setpriv --reuid="$u" --regid="$g" --clear-groups "$@"
}
sctl() { timeout 30 nsenter -t "$spid" -m -p systemctl --no-pager "$@"; }
prop() { sctl show -p "$1" --value shmbrokerd.service; }
up() { [ "$(prop ActiveState)/$(prop SubState)" = active/running ]; }
adm() { ns timeout 10 "$shmctl" -s /run/shmbroker/admin.sock "$@"; }

dump() {
	echo "--- systemd's log"
	tail -n 60 "$work/console.log" "$work/boot.log" 2>/dev/null
	echo "--- shmbrokerd's output"; tail -n 40 "$work/daemon.log" 2>/dev/null
	if [ -n "$spid" ] && kill -0 "$spid" 2>/dev/null; then
		echo "--- systemctl status"
		sctl status shmbrokerd.service shmbrokerd.socket \
		    shmbrokerd-admin.socket 2>&1 | head -n 40
	fi
}

# Waits up to $1 seconds for the command after it to succeed.
wait_for() {
	local deadline=$((SECONDS + $1)); shift
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

gone() { ! kill -0 "$1" 2>/dev/null; }

# check WHAT WANT GOT: one check, reported and counted, never fatal.
check() {
	nchecks=$((nchecks + 1))
	if [ "$2" = "$3" ]; then
		echo "ok   $1"
	else
		echo "FAIL $1: want '$2', got '$3'"
		failed+=("$1")
	fi
}

# At the end: fails the test (with dump) if any check failed.
pid1_verdict() {
	if [ ${#failed[@]} -gt 0 ]; then
		echo "FAIL: ${#failed[@]} of $nchecks checks failed:"
		printf '  %s\n' "${failed[@]}"
		dump
		exit 1
	fi
	echo "PASS: $nchecks checks"
}

# pid1_add_users NAME...: users and groups shmt-NAME in the test's user
# database, with consecutive ids free in both (uid = gid), in the order
# given; ${pid1_uid[NAME]} is each one's id.
pid1_add_users() {
	local base=4100 n=$# i=1
	while awk -F: -v b="$base" -v n="$n" '$3 > b && $3 <= b + n { f = 1 }
	    END { exit !f }' "$work/etc/passwd" "$work/etc/group"; do
		base=$((base + 100))
		[ "$base" -lt 60000 ] ||
		    skip "no $n free uids/gids in the user database"
	done
	for u in "$@"; do
		pid1_uid[$u]=$((base + i))
		echo "shmt-$u:x:$((base + i)):$((base + i))::/nonexistent:/usr/sbin/nologin" \
		    >>"$work/etc/passwd"
		echo "shmt-$u:x:$((base + i)):" >>"$work/etc/group"
		i=$((i + 1))
	done
}

# SIGKILL to a process and its descendants, children first, by pid.
pid1_kill_tree() {
	local c
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		pid1_kill_tree "$c"
	done
	kill -KILL "$1" 2>/dev/null
}

pid1_cleanup() {
	local rc=$?
	if declare -F pid1_on_cleanup >/dev/null; then
		pid1_on_cleanup
	fi
	# Background clients live in the namespaces' PID namespace; $pid1_bg
	# has their parents on this side (a subshell, then nsenter). Kill the
	# whole tree: an nsenter left alone stops itself when systemd-shutdown
	# stops its child, and then never reaps it, so PID 1 would wait 90 s.
	for h in $pid1_bg; do pid1_kill_tree "$h"; done
	if [ -n "$upid" ] && ! gone "$upid"; then
		if [ -n "$spid" ] && ! gone "$spid"; then
			sctl poweroff >/dev/null 2>&1
			# SIGTERM only makes systemd re-execute itself; killing
			# PID 1 of the namespace takes every process in it along.
			wait_for 30 gone "$spid" || kill -KILL "$spid" 2>/dev/null
		fi
		wait_for 10 gone "$upid" || kill -KILL "$upid" 2>/dev/null
		wait "$upid" 2>/dev/null
	fi
	if [ -n "$work" ] && grep -q " $work" /proc/self/mountinfo; then
		echo "FAIL: mounts left on the host under $work"
		rc=1
	fi
	[ -n "$cg" ] && [ -d "$cg" ] &&
	    find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
	[ -n "$cg" ] && [ -d "$cg" ] && echo "warning: cannot remove cgroup $cg"
	[ -n "$work" ] && rm -rf "$work"
	exit "$rc"
}

# pid1_prepare NAME: NAME names the work dir and the cgroup.
pid1_prepare() {
	local cgself
	[ "$(id -u)" = 0 ] || skip "needs root (mount, PID and cgroup namespaces)"
	for t in unshare nsenter systemctl systemd-sysusers mknod setpriv; do
		command -v "$t" >/dev/null || skip "$t is not installed"
	done
	systemd=/lib/systemd/systemd
	[ -x "$systemd" ] || systemd=/usr/lib/systemd/systemd
	[ -x "$systemd" ] ||
	    skip "no systemd binary in /lib/systemd or /usr/lib/systemd"
	# Our own cgroup in the cgroup2 hierarchy (pure or hybrid layout);
	# the nested systemd gets a child of it as the root of its cgroup
	# namespace.
	if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
		cgroot=/sys/fs/cgroup
	elif [ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
		cgroot=/sys/fs/cgroup/unified
	else
		skip "no cgroup2 hierarchy mounted"
	fi
	cgself=$(sed -n 's/^0:://p' /proc/self/cgroup)
	cg=$cgroot${cgself%/}/shmbroker-$1-test.$$
	work=$(mktemp -d "$parent/$1-work.XXXXXX") ||
	    skip "cannot create a work dir"
	trap pid1_cleanup EXIT
	trap 'exit 1' INT TERM HUP
	chmod 0755 "$work"
	mkdir -p "$work/units/shmbrokerd.service.d" "$work/etc/shmbroker"
	touch "$work/console.log" "$work/daemon.log"
}

pid1_install() {
	for f in passwd group shadow gshadow; do
		[ -e "/etc/$f" ] && cp -a "/etc/$f" "$work/etc/$f"
	done
	# The service runs as the user of sysusers.d/shmbroker.conf, created
	# in the test's copy of the user database (bind-mounted over the
	# host's inside the namespace), so User=, Group= and the sandbox are
	# the shipped ones.
	systemd-sysusers --root="$work" "$unitsrc/sysusers.d/shmbroker.conf" \
	    >/dev/null 2>&1 || skip "systemd-sysusers cannot create the user"
	uid=$(awk -F: '$1 == "shmbroker" { print $3 }' "$work/etc/passwd")
	[ -n "$uid" ] || fail "sysusers.d/shmbroker.conf created no user shmbroker"

	# Only this test's units exist for the nested systemd
	# (SYSTEMD_UNIT_PATH): stubs for the targets that default
	# dependencies name, and the real shutdown units so that
	# "systemctl poweroff" ends it.
	for t in shmtest sysinit basic sockets multi-user; do
		printf '[Unit]\nDescription=%s (test stub)\n' "$t" \
		    >"$work/units/$t.target"
	done
	for u in shutdown.target umount.target final.target poweroff.target \
	    systemd-poweroff.service; do
		cp "/lib/systemd/system/$u" "$work/units/" 2>/dev/null ||
		    cp "/usr/lib/systemd/system/$u" "$work/units/" ||
		    skip "no $u in the systemd installation"
	done
	sed -e "s|@SBINDIR@|$(dirname "$shmbrokerd")|g" \
	    -e "s|@SYSCONFDIR@|$work/etc|g" "$unitsrc/shmbrokerd.service.in" \
	    >"$work/units/shmbrokerd.service"
	cp "$unitsrc/shmbrokerd.socket" "$unitsrc/shmbrokerd-admin.socket" \
	    "$work/units/"
	cat >"$work/units/shmbrokerd.service.d/test.conf" <<EOF
[Service]
# This machine's hard RLIMIT_NOFILE is 20000 and cannot be raised (no
# CAP_SYS_RESOURCE): the shipped LimitNOFILE=1048576 would fail with EPERM.
LimitNOFILE=16384
# Short, so the watchdog part of the test is quick.
WatchdogSec=2s
# No journald here: keep the daemon's log in the work dir.
StandardOutput=append:$work/daemon.log
StandardError=inherit
# The watchdog's SIGABRT must not write a core anywhere.
LimitCORE=0
# The build tree may sit under /tmp or a home directory, which the sandbox
# (PrivateTmp=, ProtectHome=) hides: show the daemon its binary and its
# configuration again, read-only.
BindReadOnlyPaths=$(dirname "$shmbrokerd") $work/etc
EOF
	if [ -n "${SHMBROKER_TEST_SANITIZER:-}" ]; then
		# LeakSanitizer stops the world with ptrace, which the sandbox
		# forbids: at exit it would fail the daemon.
		printf 'Environment=ASAN_OPTIONS=detect_leaks=0\n' \
		    >>"$work/units/shmbrokerd.service.d/test.conf"
	fi
}

pid1_boot() {
	mkdir "$cg" 2>/dev/null ||
	    skip "cannot create a cgroup under $cg"
	(
		echo "$BASHPID" >"$cg/cgroup.procs" &&
		exec unshare --mount --pid --fork --mount-proc --uts --ipc \
		    --net --cgroup --propagation private "$boot" "$work" \
		    "$systemd"
	) >"$work/boot.log" 2>&1 &
	upid=$!

	if ! wait_for 30 pid1_found; then
		cat "$work/boot.log"
		skip "systemd did not start in the namespaces (see above)"
	fi
	if ! wait_for 60 pid1_booted || gone "$spid"; then
		cat "$work/boot.log"; dump
		skip "systemd as PID 1 did not reach running here (see above)"
	fi
	echo "systemd is PID 1 of the namespaces (host pid $spid)"
}

pid1_found() {
	spid=$(cat /proc/"$upid"/task/*/children 2>/dev/null | awk '{print $1}')
	[ -n "$spid" ] && [ "$(cat /proc/"$spid"/comm 2>/dev/null)" = systemd ]
}

pid1_booted() {
	case $(sctl is-system-running 2>/dev/null) in
	running|degraded) return 0 ;;
	esac
	gone "$spid" && return 0
	return 1
}

# The host pids of the processes in the service's cgroup (the daemon, its
# keepers, a reload's kill), read without entering the namespaces.
pid1_service_pids() {
	cat "$cg/system.slice/shmbrokerd.service/cgroup.procs" 2>/dev/null
}

pid1_poweroff() {
	sctl poweroff >/dev/null 2>&1
	wait_for 30 gone "$upid" || fail "systemd did not power off"
	wait "$upid" 2>/dev/null
}
