#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Builds the Debian package of shmbroker: configures a release tree for
# the prefix /usr (the unit's ExecStart= and --config carry the configured
# prefix, and for /usr GNUInstallDirs picks /etc for the configuration and
# lib/MULTIARCH for the libraries), with Debian's
# build flags (dpkg-buildflags, hardening=+all) and without the tests,
# builds it and runs `cpack -G DEB` (cmake/Package.cmake).
# Usage: scripts/package.sh [BUILD_DIR]     (default: build-deb/)
# Prints the .deb's path on its last line. Needs dpkg-dev (dpkg-shlibdeps);
# scripts/setup-deps.sh installs it.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$src/build-deb}

for t in cmake cpack dpkg-buildflags dpkg-shlibdeps; do
  command -v "$t" >/dev/null ||
    { echo "package.sh: $t is missing (scripts/setup-deps.sh)" >&2; exit 1; }
done

export DEB_BUILD_MAINT_OPTIONS=hardening=+all
# CMake reads no CPPFLAGS: they go with the CFLAGS.
cflags="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
ldflags=$(dpkg-buildflags --get LDFLAGS)
cmake -S "$src" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_INSTALL_PREFIX=/usr -DSHMBROKER_TESTS=OFF \
  -DCMAKE_C_FLAGS="$cflags" -DCMAKE_EXE_LINKER_FLAGS="$ldflags" \
  -DCMAKE_SHARED_LINKER_FLAGS="$ldflags" >/dev/null
cmake --build "$dir" -j"$(nproc)" >&2
# cpack names the package it made on a line of its own.
out=$(cd "$dir" && cpack -G DEB) || { echo "$out" >&2; exit 1; }
echo "$out" >&2
deb=$(sed -n 's/^CPack: - package: \(.*\.deb\) generated\.$/\1/p' <<<"$out")
[ -n "$deb" ] && [ -f "$deb" ] ||
  { echo "package.sh: cpack named no .deb" >&2; exit 1; }
echo "$deb"
