#!/bin/sh
# SPDX-License-Identifier: ISC
# Runs as PID 1 of the private PID, mount, UTS, IPC, network and cgroup
# namespaces that deb.sh creates (lib-pid1.sh's pid1_boot), and gives the
# nested systemd a root of its own in which the package can be installed
# without touching the host: an overlay whose lower layer is the host's /
# (read-only through it) and whose upper layer is a tmpfs of this mount
# namespace, so every write (dpkg's database, /etc/passwd, /usr) lands in
# memory that goes with the namespace. Into it: a fresh /proc, /run, /dev
# and /tmp, read-only /sys and /proc/sys, the test's unit directories over
# /etc/systemd/system and /usr/lib/systemd/system (so systemd sees the
# test's stub targets and the units the package installs, not the host's),
# and the work dir at its own path. Then pivot_root into it and become
# systemd, as pid1-boot.sh does.
# Usage: pkg-boot.sh WORKDIR SYSTEMD
set -eu
w=$1
systemd=$2
r=$w/root

# The upper layer may not sit in the lower one's file system: a tmpfs.
mount -t tmpfs -o mode=0755 tmpfs "$w/layers"
mkdir "$w/layers/upper" "$w/layers/work"
mount -t overlay overlay \
    -o "lowerdir=/,upperdir=$w/layers/upper,workdir=$w/layers/work" "$r"

mount -t proc proc "$r/proc"
mount --bind "$r/proc/sys" "$r/proc/sys"
mount -o remount,bind,ro "$r/proc/sys"
mount --bind /sys "$r/sys"
mount -o remount,bind,ro "$r/sys"
mount -t cgroup2 cgroup2 "$r/sys/fs/cgroup"
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$r/run"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$r/tmp"

d=$r/dev
mount -t tmpfs -o mode=0755,nosuid tmpfs "$d"
mknod -m 0666 "$d/null" c 1 3
mknod -m 0666 "$d/zero" c 1 5
mknod -m 0666 "$d/full" c 1 7
mknod -m 0666 "$d/random" c 1 8
mknod -m 0666 "$d/urandom" c 1 9
mknod -m 0666 "$d/tty" c 5 0
mkdir "$d/pts" "$d/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$d/pts"
ln -s pts/ptmx "$d/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$d/shm"
ln -s /proc/self/fd "$d/fd"
ln -s /proc/self/fd/0 "$d/stdin"
ln -s /proc/self/fd/1 "$d/stdout"
ln -s /proc/self/fd/2 "$d/stderr"
# There is no journald: systemd logs to "/dev/kmsg", the test's log file.
touch "$d/kmsg"
mount --bind "$w/console.log" "$d/kmsg"

mount --bind "$w/units" "$r/etc/systemd/system"
# The package's unit directory (/lib/systemd/system; on a merged /usr the
# same as /usr/lib/systemd/system, else hidden as well).
mount --bind "$w/sysunits" "$r/lib/systemd/system"
if [ -d "$r/usr/lib/systemd/system" ] && [ "$(readlink -f "$r/lib/systemd/system")" != \
    "$(readlink -f "$r/usr/lib/systemd/system")" ]; then
	mount --bind "$w/sysunits" "$r/usr/lib/systemd/system"
fi
# (After the tmpfs mounts: the work dir may be under /tmp.)
mkdir -p "$r$w"
mount --bind "$w" "$r$w"

cd "$r"
mkdir -p .old-root
pivot_root . .old-root
umount -l /.old-root
rmdir /.old-root
cd /

exec env -i container=shmbroker-test PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    SYSTEMD_UNIT_PATH=/etc/systemd/system:/lib/systemd/system \
    "$systemd" --system --unit=shmtest.target --show-status=no \
    --log-target=kmsg --log-level=info --log-color=no
