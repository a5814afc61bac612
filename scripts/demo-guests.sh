#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# The guest part of README's demo, on a host with a working /dev/kvm
# (scripts/demo.sh runs it, inside tests/qemu-kvm/run-in-vm.sh when the
# host has none). BUILD is the build directory. Starts shmbrokerd on
# private sockets and two guests, each in its own shm-vm process; they
# share the region "demo", pass a message through it and wake each other
# with notifications. shmctl then shows the region and its two clients and
# destroys it, which revokes the guests' clients and ends them. Everything
# it started is stopped again, also on failure.
set -euo pipefail
bin=${1:?usage: demo-guests.sh BUILD}
guests=$bin/vmm-adapter/guests
# shellcheck source=vmrun.sh
. "$(dirname "$0")/vmrun.sh"
vmrun_begin shmbroker-demo

shmctl() { "$bin/client/shmctl" --admin-socket "$tmp/admin.sock" "$@"; }

echo "starting shmbrokerd on $tmp"
vmrun_daemon "$bin/daemon/shmbrokerd"

echo "starting guest A and guest B, each in its own shm-vm process:"
for g in demo demo_b; do
  "$bin/vmm-adapter/shm-vm" --socket "$tmp/vmm.sock" --guest "$guests/$g.elf" \
    --timeout 300 >"$tmp/$g.out" 2>&1 &
  pids+=($!)
done
show() { sed 's/^/  /' "$tmp/demo.out" "$tmp/demo_b.out" | sort -s -k1,2; }
if ! vmrun_wait_for "$tmp/demo.out" "the reply says" "${pids[1]}"; then
  show
  exit 1
fi
show
echo
echo "shmctl list, while both guests are attached:"
shmctl list
echo
echo "shmctl clients:"
shmctl clients
echo
echo "shmctl destroy --force demo: revokes both clients, which ends the guests"
shmctl destroy --force demo
status=0
for i in 1 2; do wait "${pids[$i]}" || status=$?; done
echo
grep -h "revoked" "$tmp/demo.out" "$tmp/demo_b.out" | sed 's/^/  /' | sort
echo "both shm-vm processes exited (status $status); shmctl list now:"
shmctl list
echo
echo "daemon log:"
sed 's/^/  /' "$tmp/daemon.log"
exit $status
