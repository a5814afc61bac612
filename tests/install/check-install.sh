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
         usr/include/shmbroker/shmclient.h \
         usr/include/shmbroker/shmclient_admin.h \
         usr/include/shmbroker/shmbroker.pb-c.h; do
  [ -e "$dest/$f" ] || fail "missing $f"
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
echo "check-install: ok"
