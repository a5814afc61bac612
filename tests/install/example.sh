#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# The example VMM against an install (ctest install.example): installs the
# build tree into a scratch prefix, builds examples/ with that prefix's
# pkg-config files and nothing else, and runs it on a real shmbrokerd (the
# installed one) beside the installed shm-vm running guest B of README's
# demo. The example's guest creates the region "demo", writes a message
# into it and notifies; B, woken by the interrupt, prints the message,
# replies through the region and notifies back; the example's guest prints
# the reply. Then shmctl destroys the region, which ends B. Then again
# with the example VMM allowed only to read demo, beside guests A and B of
# the demo: it maps demo read-only, drops its guest's stores and counts
# them, and its guest reads B's reply. Skipped (77)
# where /dev/kvm cannot be opened. Everything it starts is stopped again,
# also on failure.
# Usage: example.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1 build=$2
# (<> would create a missing file: look for the device first.)
if ! [ -c /dev/kvm ] || ! { exec 3<>/dev/kvm; } 2>/dev/null; then
  echo "SKIP: /dev/kvm cannot be opened"
  exit 77
fi
exec 3>&-
# shellcheck source=../../scripts/vmrun.sh
. "$src/scripts/vmrun.sh"
vmrun_begin shmbroker-example
fail() {
  echo "example: $*" >&2
  for f in "$tmp"/*.log; do
    [ -s "$f" ] && { echo "--- ${f##*/}:"; tail -n 20 "$f"; } >&2
  done
  exit 1
}

p=$tmp/prefix
cmake --install "$build" --prefix "$p" >/dev/null
pc=$(find "$p" -name libshmvdev.pc | head -n 1)
[ -n "$pc" ] || fail "the install has no libshmvdev.pc"

# Built in a directory of its own with the prefix's pkg-config files; no
# compiler search path from the environment reaches the build.
mkdir "$tmp/ex"
env -u CPATH -u C_INCLUDE_PATH -u LIBRARY_PATH PKG_CONFIG_PATH="${pc%/*}" \
  make -C "$tmp/ex" -f "$src/examples/Makefile" >"$tmp/make.log" 2>&1 ||
  fail "the example does not build against $p alone"
libdir=$(PKG_CONFIG_PATH="${pc%/*}" pkg-config --variable=libdir libshmvdev)
# (grep reads all of ldd's output: with -q it could exit at the match
# while ldd still writes, and pipefail would count ldd's SIGPIPE.)
LD_LIBRARY_PATH=$libdir ldd "$tmp/ex/minivmm" |
  grep "libshmvdev.so.0 => $p/" >/dev/null ||
  fail "minivmm does not load libshmvdev from $p"

vmrun_daemon "$p/sbin/shmbrokerd" --hugepages never ||
  fail "the installed shmbrokerd did not start"

"$p/bin/shm-vm" --socket "$tmp/vmm.sock" --timeout 120 \
  --guest "$build/vmm-adapter/guests/demo_b.elf" >"$tmp/shm-vm.log" 2>&1 &
b=$!
pids+=("$b")
LD_LIBRARY_PATH=$libdir timeout 120 "$tmp/ex/minivmm" \
  "$tmp/ex/miniguest.bin" "$tmp/vmm.sock" >"$tmp/minivmm.log" 2>&1 &
m=$!
pids+=("$m")
# Both ways: the bytes the example's guest wrote reached B, who was
# notified (a B that ends first fails this at once), and B's reply and
# notification reached the example's guest, which then ends.
vmrun_wait_for "$tmp/shm-vm.log" \
  'guest B: woken by a notification, the region says: "hello from the example VMM"' \
  "$b" || fail "guest B never read the example guest's message"
rc=0
wait "$m" || rc=$?
[ "$rc" -eq 0 ] || fail "minivmm exited $rc"
grep -qF 'example guest: the reply says: "hello back from guest B"' \
  "$tmp/minivmm.log" || fail "the example's guest never read B's reply"

"$p/bin/shmctl" --admin-socket "$tmp/admin.sock" destroy --force demo \
  >/dev/null || fail "shmctl destroy --force demo fails"
rc=0
wait "$b" || rc=$?
[ "$rc" -eq 0 ] || fail "shm-vm exited $rc after the region was destroyed"
sed 's/^/  /' "$tmp/minivmm.log" "$tmp/shm-vm.log"

# Read-only: a daemon whose tenancy lets connections of gid 4201 only read
# "demo" (allow_ro), the example VMM among them. Guest A (shm-vm, root's
# tenant) creates demo; the example's guest finds it (a reader's create
# is a find) as read-only memory, so its message is dropped store by store
# (counted), and it still reads the reply that guest B writes to A's
# message.
kill "${pids[0]}" && wait "${pids[0]}" 2>/dev/null || true
pids=("${pids[@]:1}")
rm -f "$tmp/vmm.sock" "$tmp/admin.sock"
cat >"$tmp/ro.conf" <<'CONF'
[tenant host]
uid = 0
gid = 0
[tenant reader]
gid = 4201
allow_ro = demo
CONF
vmrun_daemon "$p/sbin/shmbrokerd" --hugepages never --config "$tmp/ro.conf" ||
  fail "the installed shmbrokerd did not start on a read-only tenancy"
"$p/bin/shm-vm" --socket "$tmp/vmm.sock" --timeout 120 \
  --guest "$build/vmm-adapter/guests/demo.elf" >"$tmp/ro-a.log" 2>&1 &
a=$!
pids+=("$a")
vmrun_wait_for "$tmp/ro-a.log" "attached to region demo" "$a" ||
  fail "guest A did not create demo"
LD_LIBRARY_PATH=$libdir timeout 120 setpriv --regid 4201 --clear-groups -- \
  "$tmp/ex/minivmm" "$tmp/ex/miniguest.bin" "$tmp/vmm.sock" \
  >"$tmp/ro-minivmm.log" 2>&1 &
m=$!
pids+=("$m")
vmrun_wait_for "$tmp/ro-minivmm.log" "wrote a message and notified" "$m" ||
  fail "the read-only example guest did not get as far as its message"
"$p/bin/shm-vm" --socket "$tmp/vmm.sock" --timeout 120 \
  --guest "$build/vmm-adapter/guests/demo_b.elf" >"$tmp/ro-b.log" 2>&1 &
b=$!
pids+=("$b")
rc=0
wait "$m" || rc=$?
[ "$rc" -eq 0 ] || fail "the read-only minivmm exited $rc"
grep -qF 'is read-only for this VMM' "$tmp/ro-minivmm.log" ||
  fail "minivmm did not map demo read-only"
grep -qE 'dropped [1-9][0-9]* guest stores to read-only memory' \
  "$tmp/ro-minivmm.log" || fail "minivmm dropped no stores to demo"
grep -qF 'example guest: the reply says: "hello back from guest B"' \
  "$tmp/ro-minivmm.log" || fail "the read-only guest never read B's reply"
grep -qF 'the region says: "hello from guest A"' "$tmp/ro-b.log" ||
  fail "guest B did not read A's message whole"
"$p/bin/shmctl" --admin-socket "$tmp/admin.sock" destroy --force demo \
  >/dev/null || fail "shmctl destroy --force demo fails (read-only round)"
for q in "$a" "$b"; do
  rc=0
  wait "$q" || rc=$?
  [ "$rc" -eq 0 ] || fail "shm-vm exited $rc after the read-only round"
done
sed 's/^/  /' "$tmp/ro-minivmm.log"
echo "example: ok"
