#!/usr/bin/env bash
# Installs the build tree into a temporary DESTDIR and checks that what a
# user of the client library needs is there and works: the binaries, the
# headers, libshmclient.pc, and a program built only from those.
# Usage: check-install.sh BUILD_DIR
set -euo pipefail
build=$1
dest=$(mktemp -d /tmp/shmbroker-install.XXXXXX)
trap 'rm -rf "$dest"' EXIT

DESTDIR=$dest cmake --install "$build" --prefix /usr >/dev/null

fail() { echo "check-install: $*" >&2; exit 1; }
for f in usr/sbin/shmbrokerd usr/bin/shmctl \
         usr/include/shmbroker/shmclient.h; do
  [ -e "$dest/$f" ] || fail "missing $f"
done
# The manual pages, each in its section, render.
for f in man8/shmbrokerd.8 man8/shmctl.8 man5/shmbroker.conf.5 \
         man3/libshmclient.3 man1/shm-vm.1; do
  page=$(find "$dest" -path "*/man/$f" | head -n 1)
  [ -n "$page" ] || fail "missing manual page $f"
  if command -v man >/dev/null; then
    man -l "$page" >/dev/null 2>&1 || fail "man -l $f fails"
  fi
done
# The admin side and the protobuf types are the tree's own, not an API.
for f in usr/include/shmbroker/shmclient_admin.h \
         usr/include/shmbroker/shmbroker.pb-c.h; do
  [ ! -e "$dest/$f" ] || fail "$f is installed, but is no public API"
done
# The unit directory comes from pkg-config (absolute, distribution-specific)
# and the configuration directory from the configure-time prefix: find them.
for f in shmbrokerd.service shmbrokerd.socket shmbrokerd-admin.socket \
         shmbroker.conf qvm/guest_shm.h; do
  [ -n "$(find "$dest" -path "*/$f" | head -n 1)" ] || fail "missing $f"
done
[ -n "$(find "$dest" -path '*/sysusers.d/shmbroker.conf')" ] \
  || fail "missing sysusers.d/shmbroker.conf"
service=$(find "$dest" -name shmbrokerd.service | head -n 1)
if grep -q '@[A-Z_]*@' "$service"; then
  fail "unsubstituted @VARIABLE@ left in $service"
fi

pc=$(find "$dest" -name libshmclient.pc | head -n 1)
[ -n "$pc" ] || fail "missing libshmclient.pc"
lib=$(dirname "$(dirname "$pc")")

# Point the .pc file at the DESTDIR, then build a client against it.
sed -i "s|^prefix=.*|prefix=$dest/usr|" "$pc"
cat >"$dest/client.c" <<'C'
#include <shmclient.h>
#include <stdio.h>
int main(void) {
	char buf[256];
	printf("%s\n", shmc_default_socket(false, buf, sizeof(buf)));
	return 0;
}
C
flags=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --cflags --libs libshmclient)
# shellcheck disable=SC2086
cc -std=c11 -Wall -Werror "$dest/client.c" -o "$dest/client" $flags
LD_LIBRARY_PATH=$lib "$dest/client" | grep -q "shmbroker" \
  || fail "the installed library does not run"

# Every installed shared library exports its API and nothing else: the
# functions its public header declares, in the version node.
header_api() {
  sed -n 's/^[a-z][a-z ]*[ *]\(shmc_[a-z_]*\)(.*/\1/p' "$1" | sort -u
}
so=$(find "$dest" -name 'libshmclient.so.*.*' | head -n 1)
[ -n "$so" ] || fail "missing libshmclient.so"
exported=$(nm -D --defined-only "$so" | awk '$2 == "T" { print $3 }' |
  sed 's/@.*//' | sort -u)
want=$(header_api "$dest/usr/include/shmbroker/shmclient.h")
[ -n "$want" ] || fail "no functions found in shmclient.h"
if [ "$exported" != "$want" ]; then
  diff <(echo "$want") <(echo "$exported") >&2 || true
  fail "libshmclient.so exports other than shmclient.h's functions (< header, > library)"
fi
others=$(nm -D --defined-only "$so" | awk '$2 != "T" && $3 !~ /^LIBSHMCLIENT_/ { print $3 }')
[ -z "$others" ] || fail "libshmclient.so exports data or other symbols: $others"
nm -D --defined-only "$so" | grep -q ' LIBSHMCLIENT_0$' ||
  fail "libshmclient.so has no LIBSHMCLIENT_0 version node"
echo "check-install: ok ($(echo "$exported" | wc -l) functions exported)"
