#!/usr/bin/env bash
# README's first command: installs what is missing, builds, starts
# shmbrokerd on private sockets and runs the demo (two peer processes share
# a region through the daemon). Stops the daemon again, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-deps.sh
scripts/build.sh | tail -n 1 >/dev/null
bin=build

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

free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
if [ "${free:-0}" -gt 0 ]; then
  echo "hugepage pool: $free free pages: the demo region is hugetlb-backed"
else
  echo "hugepage pool: empty, so the demo region uses regular memory"
  echo "  (as root: echo 8 > /proc/sys/vm/nr_hugepages, then run again)"
fi
echo
echo "starting shmbrokerd on $tmp"
"$bin/daemon/shmbrokerd" --socket "$tmp/vmm.sock" \
  --admin-socket "$tmp/admin.sock" --foreground 2>"$tmp/daemon.log" &
daemon=$!
for _ in $(seq 100); do
  [ -S "$tmp/admin.sock" ] && break
  sleep 0.05
done
echo
echo "two peers, each its own process and connection:"
"$bin/client/shmdemo" --socket "$tmp/vmm.sock" \
  --admin-socket "$tmp/admin.sock" --shmctl "$bin/client/shmctl"
echo
echo "shmctl list afterwards:"
"$bin/client/shmctl" --admin-socket "$tmp/admin.sock" list
echo
echo "daemon log:"
sed 's/^/  /' "$tmp/daemon.log"
