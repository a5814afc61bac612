#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Installs the build tree into a scratch prefix and checks what a user of
# the libraries needs: everything lands under the prefix, the binaries,
# headers and manual pages are there, the pkg-config files of that prefix
# give flags that build and run a client, and each shared library exports
# the functions of its public header and nothing else. Then the layout of
# a distribution package: DESTDIR with the prefix /usr.
# Usage: check-install.sh BUILD_DIR
set -euo pipefail
build=$1
tmp=$(mktemp -d /tmp/shmbroker-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
p=$tmp/prefix

fail() { echo "check-install: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$p" >/dev/null
outside=$(grep -v "^$p/" "$build/install_manifest.txt" || true)
[ -z "$outside" ] || fail "installed outside the prefix $p: $outside"

for f in sbin/shmbrokerd bin/shmctl bin/shm-vm include/qvm/guest_shm.h \
         include/shmbroker/shmclient.h include/shmbroker/shmvdev.h \
         lib/systemd/system/shmbrokerd.service \
         lib/systemd/system/shmbrokerd.socket \
         lib/systemd/system/shmbrokerd-admin.socket \
         lib/sysusers.d/shmbroker.conf etc/shmbroker/shmbroker.conf; do
  [ -e "$p/$f" ] || fail "missing $f"
done
if grep -q '@[A-Z_]*@' "$p/lib/systemd/system/shmbrokerd.service"; then
  fail "unsubstituted @VARIABLE@ left in shmbrokerd.service"
fi
# The manual pages, each in its section, render.
for f in man8/shmbrokerd.8 man8/shmctl.8 man5/shmbroker.conf.5 \
         man3/libshmclient.3 man3/libshmvdev.3 man1/shm-vm.1; do
  page=$(find "$p" -path "*/man/$f" | head -n 1)
  [ -n "$page" ] || fail "missing manual page $f"
  if command -v man >/dev/null; then
    man -l "$page" >/dev/null 2>&1 || fail "man -l $f fails"
  fi
done
# The admin side, the protobuf types and libshmvdev's register decoder
# are the tree's own, not an API.
for f in include/shmbroker/shmclient_admin.h \
         include/shmbroker/shmbroker.pb-c.h include/shmbroker/vdev_regs.h \
         include/shmbroker/shmvdev_int.h; do
  [ ! -e "$p/$f" ] || fail "$f is installed, but is no public API"
done

# The prefix's own pkg-config files, unedited, build a client.
pc=$(find "$p" -name libshmclient.pc | head -n 1)
[ -n "$pc" ] || fail "missing libshmclient.pc"
export PKG_CONFIG_PATH=${pc%/*}
flags=$(pkg-config --cflags --libs libshmclient) ||
  fail "pkg-config --cflags --libs libshmclient fails"
cat >"$tmp/client.c" <<'C'
#include <shmclient.h>
#include <stdio.h>
int main(void) {
	char buf[256];
	printf("%s\n", shmc_default_socket(false, buf, sizeof(buf)));
	return 0;
}
C
# shellcheck disable=SC2086
cc -std=c11 -Wall -Werror "$tmp/client.c" -o "$tmp/client" $flags
libdir=$(pkg-config --variable=libdir libshmclient)
LD_LIBRARY_PATH=$libdir "$tmp/client" |
  grep -q "shmbroker" || fail "the installed library does not run"

# A VMM's side: libshmvdev.pc pulls in libshmclient. The program runs
# without a daemon (shmvdev_open refuses a missing ops before connecting),
# linked with the shared library and with the static one, which must hold
# all of libshmvdev (the decoder included) and need only libshmclient.
flags=$(pkg-config --cflags --libs libshmvdev libshmclient) ||
  fail "pkg-config --cflags --libs libshmvdev libshmclient fails"
case " $flags " in
*" -lshmvdev "*"-lshmclient "*) ;;
*) fail "libshmvdev.pc does not pull in libshmclient: $flags" ;;
esac
cat >"$tmp/vmm.c" <<'C'
#include <errno.h>
#include <shmvdev.h>
#include <stdio.h>
int main(void) {
	struct shmvdev_config cfg = { 0 };
	struct shmvdev *d;
	uint8_t b[2] = { 0x34, 0x12 };
	char err[256];
	int rc = shmvdev_open(&cfg, NULL, NULL, &d, err, sizeof(err));
	printf("%d %s %llx\n", rc == -EINVAL, err,
	    (unsigned long long)shmvdev_load_le(b, 2));
	return 0;
}
C
# shellcheck disable=SC2086
cc -std=c11 -Wall -Werror "$tmp/vmm.c" -o "$tmp/vmm" $flags
LD_LIBRARY_PATH=$libdir "$tmp/vmm" | grep -q "^1 shmvdev: .* 1234$" ||
  fail "a program on the installed libshmvdev does not run"
[ -e "$libdir/libshmvdev.a" ] || fail "missing libshmvdev.a"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror "$tmp/vmm.c" -o "$tmp/vmm-static" \
  $(pkg-config --cflags libshmvdev) "$libdir/libshmvdev.a" \
  $(pkg-config --libs libshmclient) ||
  fail "libshmvdev.a does not link on its own with libshmclient"
LD_LIBRARY_PATH=$libdir "$tmp/vmm-static" | grep -q "^1 shmvdev: .* 1234$" ||
  fail "a program on the installed libshmvdev.a does not run"

# check_exports LIB HEADER PREFIX NODES: the shared library LIB exports the
# functions HEADER declares (names starting with PREFIX), in the version
# nodes NODES (space-separated), and nothing else.
check_exports() {
  local so exported want others
  so=$(find "$p" -name "$1.so.*.*" | head -n 1)
  [ -n "$so" ] || fail "missing $1.so"
  exported=$(nm -D --defined-only "$so" | awk '$2 == "T" { print $3 }' |
    sed 's/@.*//' | sort -u)
  want=$(sed -n "s/^[a-z][a-z0-9_ ]*[ *]\($3[a-z0-9_]*\)(.*/\1/p" "$2" |
    sort -u)
  [ -n "$want" ] || fail "no functions found in $2"
  if [ "$exported" != "$want" ]; then
    diff <(echo "$want") <(echo "$exported") >&2 || true
    fail "$1.so exports other than ${2##*/}'s functions (< header, > library)"
  fi
  others=$(nm -D --defined-only "$so" |
    awk -v n=" $4 " '$2 != "T" && index(n, " " $3 " ") == 0 { print $3 }')
  [ -z "$others" ] || fail "$1.so exports data or other symbols: $others"
  for node in $4; do
    nm -D --defined-only "$so" | grep -q " $node\$" ||
      fail "$1.so has no $node version node"
  done
  echo "check-install: $1.so exports the $(echo "$exported" | wc -l) functions of ${2##*/}"
}
check_exports libshmclient "$p/include/shmbroker/shmclient.h" shmc_ \
  "LIBSHMCLIENT_0 LIBSHMCLIENT_1 LIBSHMCLIENT_2"

# A program built before struct shmc_region grew read_only calls the
# attach functions of LIBSHMCLIENT_0 with a struct that ends before it:
# they must fill what it has and not a byte past it. Against the
# installed daemon, on sockets of its own.
cat >"$tmp/old-abi.c" <<'C'
#include <shmclient.h>
#include <stdio.h>
#include <string.h>
struct region_v0 {			/* struct shmc_region of LIBSHMCLIENT_0 */
	uint64_t client_id, region_id;
	int fd;
	uint32_t index, size_pages;
	uint64_t backing_bytes;
	bool hugetlb, created;
	uint32_t active_mask;
};
struct guarded { struct region_v0 r; unsigned char guard[16]; };
int attach_v0(struct shmc *, const char *, uint32_t, bool, struct region_v0 *);
int raw_v0(struct shmc *, const void *, size_t, uint32_t, bool,
    struct region_v0 *);
int claim_v0(struct shmc *, const void *, size_t, uint32_t, bool,
    struct region_v0 *, int *);
__asm__(".symver attach_v0, shmc_attach@LIBSHMCLIENT_0");
__asm__(".symver raw_v0, shmc_attach_raw@LIBSHMCLIENT_0");
__asm__(".symver claim_v0, shmc_attach_claim@LIBSHMCLIENT_0");
static int check(int rc, const struct guarded *g, uint32_t index) {
	for (size_t i = 0; i < sizeof(g->guard); i++)
		if (g->guard[i] != 0xa5)
			return printf("guard byte %zu written\n", i), 1;
	if (rc != SHMC_GSS_OK || g->r.index != index || g->r.size_pages != 1 ||
	    g->r.fd < 0 || g->r.active_mask != (2u << index) - 1)
		return printf("rc %d index %u\n", rc, g->r.index), 1;
	return 0;
}
int main(int argc, char **argv) {
	struct guarded g;
	struct shmc *c;
	char err[256];
	int efd, bad = 0;
	(void)argc;
	if (shmc_connect(argv[1], "old-abi", 5000, &c, err, sizeof(err)) < 0)
		return printf("connect: %s\n", err), 1;
	memset(&g, 0xa5, sizeof(g));
	bad |= check(attach_v0(c, "abi", 1, true, &g.r), &g, 0);
	memset(&g, 0xa5, sizeof(g));
	bad |= check(raw_v0(c, "abi", 4, 1, false, &g.r), &g, 1);
	memset(&g, 0xa5, sizeof(g));
	bad |= check(claim_v0(c, "abi", 4, 1, false, &g.r, &efd), &g, 2);
	printf("%s\n", bad ? "bad" : "ok");
	shmc_close(c);
	return bad;
}
C
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror "$tmp/old-abi.c" -o "$tmp/old-abi" \
  $(pkg-config --cflags --libs libshmclient) ||
  fail "a caller of LIBSHMCLIENT_0's attach functions does not build"
"$p/sbin/shmbrokerd" --socket "$tmp/vmm.sock" \
  --admin-socket "$tmp/admin.sock" --hugepages never 2>"$tmp/daemon.log" &
daemon=$!
for _ in $(seq 100); do [ -S "$tmp/admin.sock" ] && break; sleep 0.05; done
out=$(LD_LIBRARY_PATH=$libdir "$tmp/old-abi" "$tmp/vmm.sock" 2>&1) || true
kill "$daemon"
wait "$daemon" ||
  fail "the installed shmbrokerd did not exit cleanly: $(cat "$tmp/daemon.log")"
[ "$out" = ok ] || fail "LIBSHMCLIENT_0's attach functions: $out"
echo "check-install: LIBSHMCLIENT_0's attach functions fill the old struct, no more"
check_exports libshmvdev "$p/include/shmbroker/shmvdev.h" shmvdev_ \
  LIBSHMVDEV_0

# A package's layout: the units where systemd keeps a distribution's
# (its pkg-config file says where), the configuration in /etc.
dest=$tmp/dest
DESTDIR=$dest cmake --install "$build" --prefix /usr >/dev/null
unitdir=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null ||
  echo /usr/lib/systemd/system)
for f in usr/sbin/shmbrokerd "${unitdir#/}/shmbrokerd.service" \
         etc/shmbroker/shmbroker.conf; do
  [ -e "$dest/$f" ] || fail "DESTDIR install for /usr: missing $f"
done
grep -q '^prefix=/usr$' "$(find "$dest" -name libshmclient.pc)" ||
  fail "DESTDIR install for /usr: libshmclient.pc's prefix is not /usr"
echo "check-install: ok"
