#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# README's first command: installs what is missing, builds, and runs the
# demo: shmbrokerd on private sockets, two guests in separate shm-vm
# processes exchanging a message through a region and notifying each
# other, shmctl showing the region and its two clients
# (scripts/demo-guests.sh). A host without /dev/kvm runs that inside a
# QEMU VM that has one (tests/qemu-kvm/run-in-vm.sh); a host with neither
# falls back to two host processes (shmdemo). Everything it starts is
# stopped again, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-deps.sh
scripts/build.sh | tail -n 1 >/dev/null
bin=build

if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
  exec scripts/demo-guests.sh "$bin"
fi
echo "this host has no /dev/kvm: the guests run inside a QEMU VM that has"
echo "one (an emulated AMD CPU with SVM, tests/qemu-kvm/README.md); booting..."
rc=0
tests/qemu-kvm/run-in-vm.sh --hugepages 8 -- scripts/demo-guests.sh "$bin" || rc=$?
[ $rc -ne 77 ] && exit $rc

echo
echo "no QEMU either: two host processes play the guests instead"
tmp=$(mktemp -d /tmp/shmbroker-demo.XXXXXX)
daemon=
cleanup() {
  if [ -n "$daemon" ]; then
    kill "$daemon" 2>/dev/null || true
    wait "$daemon" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
"$bin/daemon/shmbrokerd" --socket "$tmp/vmm.sock" \
  --admin-socket "$tmp/admin.sock" --foreground 2>"$tmp/daemon.log" &
daemon=$!
for _ in $(seq 100); do
  [ -S "$tmp/admin.sock" ] && break
  sleep 0.05
done
"$bin/client/shmdemo" --socket "$tmp/vmm.sock" \
  --admin-socket "$tmp/admin.sock" --shmctl "$bin/client/shmctl"
