#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# The Debian package (issue 12, "A Debian package"): builds it with
# scripts/package.sh (cpack -G DEB, cmake/Package.cmake), checks what it
# holds, lints it, then installs it the way an administrator would, with
# dpkg -i on a system where systemd runs, and shows that the installed
# daemon serves: the socket units enabled and started, shmctl as root
# creating and listing a region, and a VMM client compiled against the
# installed header, pkg-config file and shared library sharing memory
# through it. The host stays untouched: the system that dpkg installs into
# is a copy-on-write view of the host's / (an overlay whose upper layer is
# a tmpfs of a private mount namespace, pkg-boot.sh) in which a real
# systemd runs as PID 1 of private namespaces (lib-pid1.sh, as the other
# PID 1 tests do), so dpkg's database, /etc/passwd and /usr change only
# there, and the test checks that the host's did not.
#
# What it checks:
#   the .deb: its control fields (Depends from dpkg-shlibdeps), that it
#     holds every file `cmake --install` installs (manual pages gzipped)
#     and the ones the issue names, nothing outside /usr, /etc and
#     /lib/systemd; the unit's ExecStart= and --config point at files the
#     package installs; the conffile, the ldconfig trigger, the shlibs
#     file; maintainer scripts that parse; lintian without errors (when
#     lintian is installed; its warnings are printed)
#   dpkg -i under a running systemd: the postinst made the user shmbroker
#     (systemd-sysusers) and reloaded systemd, which finds the units where
#     the package put them; enable --now of the two sockets; shmctl create
#     and list as root start the daemon (/usr/sbin/shmbrokerd, as user
#     shmbroker, with /etc/shmbroker/shmbroker.conf); a client built with
#     pkg-config against the package writes a region and another, as an
#     unprivileged user, reads it back
#   dpkg -i again (the upgrade path) with a locally changed conffile: the
#     change stays, the daemon is restarted, the region and its data
#     survive (the fd store)
#   dpkg -r stops the sockets and the daemon and keeps the conffile;
#     dpkg -P removes it and the enablement links
#   the host's dpkg database, user database and /etc are as before
#
# Usage: deb.sh SRC_DIR BOOT_SCRIPT WORK_PARENT
#   (the package's build tree is WORK_PARENT/deb-build, kept between runs)
# Exit status: 0 pass, 1 fail, 77 skipped (prerequisite missing).
# (Pipelines end in grep without -q: with pipefail, a grep -q that exits at
# its match can fail the pipeline through the writer's SIGPIPE.)
set -uo pipefail
if [ $# -ne 3 ]; then
	echo "usage: $0 SRC_DIR BOOT_SCRIPT WORK_PARENT" >&2
	exit 2
fi
src=$(realpath "$1") boot=$(realpath "$2") parent=$(realpath "$3")
here=$(dirname "$(realpath "$0")")
export LC_ALL=C

. "$src/tests/systemd/lib-pid1.sh"

# Host state that the test must not change, compared at the end.
host_state() {
	echo "package: $(dpkg-query -W -f='${db:Status-Abbrev} ${Version}' \
	    shmbroker 2>/dev/null)"
	echo "user: $(getent passwd shmbroker)"
	for f in /etc/shmbroker /var/lib/dpkg/info/shmbroker.list \
	    /lib/systemd/system/shmbrokerd.service \
	    /usr/lib/systemd/system/shmbrokerd.service /usr/sbin/shmbrokerd \
	    /usr/lib/sysusers.d/shmbroker.conf; do
		[ -e "$f" ] && echo "exists: $f"
	done
	ls -l /etc/systemd/system/sockets.target.wants 2>/dev/null |
	    grep shmbroker
}

pid1_prepare package
for t in cpack dpkg-deb dpkg-shlibdeps dpkg-buildflags pivot_root cc \
    pkg-config; do
	command -v "$t" >/dev/null || skip "$t is not installed"
done
grep -qw overlay /proc/filesystems ||
    modprobe -q overlay 2>/dev/null || grep -qw overlay /proc/filesystems ||
    skip "no overlay file system in this kernel"
host_before=$(host_state)
t_start=$SECONDS

# --- Build ----------------------------------------------------------------
build=$parent/deb-build
deb=$("$src/scripts/package.sh" "$build" 2>"$work/package.log" | tail -n 1)
if [ -z "$deb" ] || [ ! -f "$deb" ]; then
	tail -n 40 "$work/package.log"
	fail "scripts/package.sh did not build a .deb"
fi
cp "$deb" "$work/shmbroker.deb" || fail "cannot copy $deb"
echo "built $(basename "$deb") in $((SECONDS - t_start)) s"

# --- What the package holds ----------------------------------------------
field() { dpkg-deb -f "$work/shmbroker.deb" "$1"; }
version=$(sed -n 's/^project(shmbroker VERSION \([0-9.]*\).*/\1/p' \
    "$src/CMakeLists.txt")
[ "$(field Package)" = shmbroker ] || fail "Package: is '$(field Package)'"
[ "$(field Version)" = "$version" ] ||
    fail "Version: is '$(field Version)', not the project's $version"
[ "$(field Architecture)" = "$(dpkg --print-architecture)" ] ||
    fail "Architecture: is '$(field Architecture)'"
for f in Maintainer Section Description; do
	[ -n "$(field "$f")" ] || fail "the package has no $f: field"
done
depends=$(field Depends)
echo "Depends: $depends"
# dpkg-shlibdeps' findings for the daemon and the library.
for p in libc6 libevent- libprotobuf-c1 libsystemd0; do
	grep -q "\(^\|, \)$p" <<<"$depends" ||
	    fail "Depends: names no $p (dpkg-shlibdeps did not run?)"
done

dpkg-deb -c "$work/shmbroker.deb" | awk '{ print $6 }' |
    sed 's|^\./|/|; s|/$||' | grep -v '^$' | sort >"$work/contents"
# Everything cmake --install puts in /usr's tree, with the manual pages
# gzipped as the package has them.
DESTDIR=$work/dest cmake --install "$build" >/dev/null ||
    fail "cmake --install of the package's build tree failed"
(cd "$work/dest" && find . -mindepth 1 ! -type d) |
    sed 's|^\.||; s|\(/man/man[1-8]/.*\.[1-8]\)$|\1.gz|' |
    sort >"$work/installed"
missing=$(comm -23 "$work/installed" "$work/contents")
[ -z "$missing" ] ||
    fail "installed by cmake --install but not in the package: $missing"
# The files the issue names, whatever the install rules say. The unit and
# sysusers.d directories are systemd's for the prefix /usr (its pkg-config
# file's), unless the tree was configured with others.
cache() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
unitdir=$(cache SHMBROKER_SYSTEMDUNITDIR)
[ -n "$unitdir" ] ||
    unitdir=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null)
[ -n "$unitdir" ] || unitdir=/usr/lib/systemd/system
sysusersdir=$(cache SHMBROKER_SYSUSERSDIR)
[ -n "$sysusersdir" ] ||
    sysusersdir=$(pkg-config --variable=sysusersdir systemd 2>/dev/null)
[ -n "$sysusersdir" ] || sysusersdir=/usr/lib/sysusers.d
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null ||
    gcc -print-multiarch)
libdir=/usr/lib/$multiarch
want="/usr/sbin/shmbrokerd /usr/bin/shmctl /usr/bin/shm-vm
$libdir/libshmclient.so.0 $libdir/libshmclient.so
/usr/include/shmbroker/shmclient.h /usr/include/qvm/guest_shm.h
$libdir/pkgconfig/libshmclient.pc
$unitdir/shmbrokerd.service $unitdir/shmbrokerd.socket
$unitdir/shmbrokerd-admin.socket
$sysusersdir/shmbroker.conf /etc/shmbroker/shmbroker.conf
/usr/share/man/man8/shmbrokerd.8.gz /usr/share/man/man8/shmctl.8.gz
/usr/share/man/man5/shmbroker.conf.5.gz /usr/share/man/man3/libshmclient.3.gz
/usr/share/man/man1/shm-vm.1.gz
/usr/share/doc/shmbroker/copyright"
# libshmvdev, once it is installed, comes with all of its parts.
vdev=no
if grep -q '/libshmvdev\.so' "$work/installed"; then
	vdev=yes
	want="$want
$libdir/libshmvdev.so.0 $libdir/libshmvdev.so $libdir/pkgconfig/libshmvdev.pc
/usr/share/man/man3/libshmvdev.3.gz"
	grep -q '^/usr/include/\(.*/\)\?shmvdev\.h$' "$work/contents" ||
	    fail "the package has libshmvdev but not shmvdev.h"
fi
for f in $want; do
	grep -qx "$f" "$work/contents" || fail "the package lacks $f"
done
# Outside /usr and /etc only the unit directory (and its parents).
outside=$(grep -v -e '^/usr\(/\|$\)' -e '^/etc\(/\|$\)' "$work/contents" |
    while read -r p; do
	    case $unitdir/ in "$p"/*) continue ;; esac
	    case $p in "$unitdir"/*) continue ;; esac
	    echo "$p"
    done)
[ -z "$outside" ] || fail "the package installs outside /usr, /etc and" \
    "$unitdir: $outside"
grep -q -e '^/usr/local' -e '^/usr/etc' "$work/contents" &&
    fail "the package installs into /usr/local or /usr/etc"

mkdir "$work/x"
dpkg-deb -R "$work/shmbroker.deb" "$work/x" || fail "dpkg-deb -R failed"
exec_start=$(sed -n 's/^ExecStart=//p' \
    "$work/x$unitdir/shmbrokerd.service")
read -r bin opt conf rest <<<"$exec_start"
[ "$opt" = --config ] && [ -z "$rest" ] ||
    fail "ExecStart= is '$exec_start', not 'BINARY --config FILE'"
[ "$bin" = /usr/sbin/shmbrokerd ] && [ "$conf" = /etc/shmbroker/shmbroker.conf ] ||
    fail "ExecStart= runs '$bin' with '$conf', not /usr/sbin/shmbrokerd" \
    "with /etc/shmbroker/shmbroker.conf"
grep -qx "$bin" "$work/contents" && grep -qx "$conf" "$work/contents" ||
    fail "the package lacks what ExecStart= names: $bin, $conf"
grep -qx 'prefix=/usr' "$work/x$libdir/pkgconfig/libshmclient.pc" ||
    fail "libshmclient.pc's prefix is not /usr"
grep -qx /etc/shmbroker/shmbroker.conf "$work/x/DEBIAN/conffiles" ||
    fail "/etc/shmbroker/shmbroker.conf is not a conffile"
grep -qx 'activate-noawait ldconfig' "$work/x/DEBIAN/triggers" ||
    fail "no ldconfig trigger for the shared libraries"
grep -q '^libshmclient 0 shmbroker' "$work/x/DEBIAN/shlibs" ||
    fail "no shlibs entry for libshmclient.so.0"
for s in postinst prerm postrm; do
	[ -x "$work/x/DEBIAN/$s" ] || fail "the package has no $s"
	sh -n "$work/x/DEBIAN/$s" || fail "$s does not parse"
done
echo "contents: $(grep -c . "$work/contents") paths, all expected ones in"

if command -v lintian >/dev/null; then
	lintian --fail-on error "$work/shmbroker.deb" >"$work/lintian.log" 2>&1
	rc=$?
	grep -v 'running with root privileges' "$work/lintian.log"
	[ "$rc" = 0 ] || fail "lintian reports errors (exit $rc)"
	echo "lintian: no errors ($(grep -c '^W: ' "$work/lintian.log") warnings)"
else
	echo "note: lintian is not installed; the package is not linted"
fi

# --- A private root with a running systemd --------------------------------
# Stub targets for what default dependencies name (as lib-pid1.sh does)
# in /etc/systemd/system, and only the real shutdown units in the unit
# directory the package installs into: systemd sees those and the units
# dpkg adds, nothing of the host's.
mkdir "$work/root" "$work/layers" "$work/sysunits"
for t in shmtest sysinit basic sockets multi-user; do
	printf '[Unit]\nDescription=%s (test stub)\n' "$t" >"$work/units/$t.target"
done
for u in shutdown.target umount.target final.target poweroff.target \
    systemd-poweroff.service; do
	cp "/lib/systemd/system/$u" "$work/sysunits/" 2>/dev/null ||
	    cp "/usr/lib/systemd/system/$u" "$work/sysunits/" ||
	    skip "no $u in the systemd installation"
done
# What this machine needs, in the administrator's place for drop-ins.
cat >"$work/units/shmbrokerd.service.d/test.conf" <<EOF
[Service]
# This machine's hard RLIMIT_NOFILE is 20000 and cannot be raised (no
# CAP_SYS_RESOURCE): the shipped LimitNOFILE=1048576 would fail with EPERM.
LimitNOFILE=16384
# No journald here: keep the daemon's log in the work dir.
StandardOutput=append:$work/daemon.log
StandardError=inherit
LimitCORE=0
EOF
cp "$here/pkg_client.c" "$work/"
chmod -R a+rX "$work"

pid1_boot
# The root dpkg installs into is the namespaces' /, not the host's.
[ "$(ns stat -f -c %T /)" = overlayfs ] ||
    fail "the namespaces' / is $(ns stat -f -c %T /), not the overlay"
# A configuration left on the host by hand would make dpkg ask about it.
ns rm -rf /etc/shmbroker
# A container image's policy-rc.d (exit 101: start nothing, as for docker
# build) would keep the maintainer scripts (deb-systemd-invoke) from
# restarting and stopping the daemon, as it should; a machine that runs
# systemd has none.
ns rm -f /usr/sbin/policy-rc.d

# --- dpkg -i ----------------------------------------------------------------
reloads() { grep -c 'Reloading' "$work/console.log"; }
n=$(reloads)
t0=$SECONDS
ns timeout 120 dpkg -i "$work/shmbroker.deb" </dev/null >"$work/dpkg.log" 2>&1 ||
    { cat "$work/dpkg.log"; fail "dpkg -i of the package failed"; }
echo "dpkg -i: installed in $((SECONDS - t0)) s"
[ "$(ns dpkg-query -W -f='${Status}' shmbroker)" = "install ok installed" ] ||
    fail "dpkg does not list shmbroker as installed"
ns dpkg-query -W -f='${Conffiles}\n' shmbroker |
    grep '^ /etc/shmbroker/shmbroker.conf ' >/dev/null ||
    fail "dpkg did not register /etc/shmbroker/shmbroker.conf as a conffile"
user=$(ns getent passwd shmbroker) ||
    fail "the postinst made no user shmbroker (systemd-sysusers)"
uid=$(cut -d: -f3 <<<"$user")
echo "postinst: user $user"
[ "$(reloads)" -gt "$n" ] ||
    fail "the postinst did not reload systemd (systemctl daemon-reload)"
[ "$(ns readlink -f "$(sctl show -p FragmentPath --value shmbrokerd.service)")" = \
    "$(ns readlink -f "$unitdir/shmbrokerd.service")" ] ||
    fail "systemd does not take shmbrokerd.service from the package" \
    "($(sctl show -p FragmentPath --value shmbrokerd.service))"

# --- Enable, create, list, attach -----------------------------------------
sctl enable --now shmbrokerd.socket shmbrokerd-admin.socket ||
    fail "systemctl enable --now of the socket units failed"
for u in shmbrokerd.socket shmbrokerd-admin.socket; do
	[ "$(sctl is-enabled "$u")" = enabled ] || fail "$u is not enabled"
	[ "$(sctl is-active "$u")" = active ] || fail "$u is not active"
done
[ "$(prop ActiveState)" = inactive ] ||
    fail "the service runs before any connection"

ns timeout 20 /usr/bin/shmctl create pkgtest 1M ||
    fail "shmctl create pkgtest 1M (root, default admin socket) failed"
list=$(ns timeout 20 /usr/bin/shmctl list) || fail "shmctl list failed"
echo "$list"
awk 'NR > 1 { print $2 }' <<<"$list" | grep -x pkgtest >/dev/null ||
    fail "shmctl list does not show pkgtest"
pid=$(prop MainPID)
[ "$pid" != 0 ] && [ "$(prop ActiveState)/$(prop SubState)" = active/running ] ||
    fail "shmctl did not start the daemon: $(prop ActiveState)/$(prop SubState)"
[ "$(ns readlink "/proc/$pid/exe")" = /usr/sbin/shmbrokerd ] ||
    fail "the daemon runs $(ns readlink "/proc/$pid/exe"), not /usr/sbin/shmbrokerd"
[ "$(ns stat -c %u "/proc/$pid")" = "$uid" ] ||
    fail "the daemon does not run as user shmbroker (uid $uid)"
cmdline=$(ns cat "/proc/$pid/cmdline" | tr '\0' ' ')
[[ $cmdline == *"--config /etc/shmbroker/shmbroker.conf "* ]] ||
    fail "the daemon's command line is '$cmdline'"
echo "daemon: pid $pid, $(prop StatusText)"

# A client built against the package alone: its header, its .pc file, its
# library (the host has libprotobuf-c's .pc, which Requires.private names).
ns sh -c "cd $work && cc -std=c11 -Wall -Werror -o pkg-client pkg_client.c \
    \$(pkg-config --cflags --libs libshmclient)" >"$work/cc.log" 2>&1 ||
    { cat "$work/cc.log"; fail "cannot build a client against the package"; }
# (With a merged /usr the loader may name it by /lib/MULTIARCH.)
so=$(ns ldd "$work/pkg-client" | awk '$1 == "libshmclient.so.0" { print $3 }')
[ -n "$so" ] && [ "$(ns readlink -f "$so")" = \
    "$(ns readlink -f "$libdir/libshmclient.so.0")" ] ||
    fail "the client loads libshmclient.so.0 from '$so', not the package's"
ns dpkg -S "$libdir/libshmclient.so.0" 2>/dev/null | grep '^shmbroker:' >/dev/null ||
    fail "$libdir/libshmclient.so.0 does not belong to the package"
if [ "$vdev" = yes ]; then
	# The VMM side's header and .pc file work as installed too.
	printf '#include <shmvdev.h>\nint main(void) { return 0; }\n' \
	    >"$work/vdev.c"
	ns sh -c "cd $work && cc -std=c11 -Wall -Werror -o vdev vdev.c \
	    \$(pkg-config --cflags --libs libshmvdev)" >"$work/cc.log" 2>&1 ||
	    { cat "$work/cc.log"; fail "cannot build against libshmvdev.pc"; }
	echo "libshmvdev: a program builds with pkg-config libshmvdev"
fi

text="written through the packaged libshmclient"
ns timeout 20 "$work/pkg-client" write pkgtest "$text" ||
    fail "the client could not write region pkgtest"
# The VMM socket is for every user (mode 0666): read it back as nobody.
ns setpriv --reuid=65534 --regid=65534 --clear-groups \
    timeout 20 "$work/pkg-client" read pkgtest "$text" ||
    fail "an unprivileged client does not read what the first one wrote"

# --- dpkg -i again: the upgrade path --------------------------------------
conf=/etc/shmbroker/shmbroker.conf
ns sh -c "echo '# changed by the administrator' >>$conf"
ns timeout 120 dpkg -i "$work/shmbroker.deb" </dev/null >"$work/dpkg2.log" 2>&1 ||
    { cat "$work/dpkg2.log"; fail "dpkg -i over the installed package failed"; }
ns grep -qx '# changed by the administrator' "$conf" ||
    fail "reinstalling lost the local change to the conffile $conf"
restarted() {
	local p
	p=$(prop MainPID)
	[ "$p" != 0 ] && [ "$p" != "$pid" ] && [ "$(prop ActiveState)" = active ]
}
wait_for 30 restarted ||
    fail "the postinst did not restart the running daemon on upgrade"
ns timeout 20 /usr/bin/shmctl list | awk 'NR > 1 { print $2 }' |
    grep -x pkgtest >/dev/null ||
    fail "region pkgtest did not survive the upgrade's restart"
ns timeout 20 "$work/pkg-client" read pkgtest "$text" ||
    fail "region pkgtest lost its data in the upgrade's restart"
echo "upgrade: daemon restarted as pid $(prop MainPID), region and data kept," \
    "conffile change kept"

# --- Remove, purge --------------------------------------------------------
ns timeout 120 dpkg -r shmbroker </dev/null >"$work/dpkg3.log" 2>&1 ||
    { cat "$work/dpkg3.log"; fail "dpkg -r shmbroker failed"; }
for u in shmbrokerd.service shmbrokerd.socket shmbrokerd-admin.socket; do
	s=$(sctl show -p ActiveState --value "$u")
	[ "$s" = inactive ] || fail "after dpkg -r, $u is $s"
done
ns test -e /usr/sbin/shmbrokerd && fail "dpkg -r left /usr/sbin/shmbrokerd"
ns test -e "$conf" || fail "dpkg -r removed the conffile $conf"
ns timeout 120 dpkg -P shmbroker </dev/null >"$work/dpkg4.log" 2>&1 ||
    { cat "$work/dpkg4.log"; fail "dpkg -P shmbroker failed"; }
ns test -e "$conf" && fail "dpkg -P left the conffile $conf"
links=$(ns find /etc/systemd/system -name 'shmbrokerd*' -type l)
[ -z "$links" ] || fail "dpkg -P left enablement links: $links"
ns dpkg-query -W shmbroker >/dev/null 2>&1 &&
    fail "dpkg still knows shmbroker after the purge"
echo "remove and purge: units stopped, files, conffile and links gone"

pid1_poweroff

# --- The host -------------------------------------------------------------
host_after=$(host_state)
[ "$host_after" = "$host_before" ] || fail "the host changed:" \
    "before: $host_before; after: $host_after"
echo "host: dpkg database, user shmbroker and /etc as before"
echo "PASS ($((SECONDS - t_start)) s)"
