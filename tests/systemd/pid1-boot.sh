#!/bin/sh
# SPDX-License-Identifier: ISC
# Runs as PID 1 of the private PID, mount, UTS, IPC, network and cgroup
# namespaces that pid1.sh creates: hides the host's /run, /dev, cgroups,
# unit files and user database behind private copies, makes /proc/sys and
# /sys read-only (so nothing the nested systemd does reaches host-wide
# settings), then becomes systemd. Usage: pid1-boot.sh WORKDIR SYSTEMD
set -eu
w=$1
systemd=$2

mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mount -t tmpfs -o mode=0755,nosuid tmpfs /dev
mknod -m 0666 /dev/null c 1 3
mknod -m 0666 /dev/zero c 1 5
mknod -m 0666 /dev/full c 1 7
mknod -m 0666 /dev/random c 1 8
mknod -m 0666 /dev/urandom c 1 9
mknod -m 0666 /dev/tty c 5 0
mkdir /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts
ln -s pts/ptmx /dev/ptmx
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr
# There is no journald: systemd logs to "/dev/kmsg", the test's log file.
touch /dev/kmsg
mount --bind "$w/console.log" /dev/kmsg

mount -o remount,bind,ro /sys
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys

mount --bind "$w/units" /etc/systemd/system
for f in passwd group shadow gshadow; do
	[ -e "/etc/$f" ] && mount --bind "$w/etc/$f" "/etc/$f"
done

exec env -i container=shmbroker-test PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    SYSTEMD_UNIT_PATH=/etc/systemd/system \
    "$systemd" --system --unit=shmtest.target --show-status=no \
    --log-target=kmsg --log-level=info --log-color=no
