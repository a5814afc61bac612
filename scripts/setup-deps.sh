#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Installs the Debian packages shmbroker builds and tests with. Idempotent:
# skips apt entirely when everything is already there.
set -euo pipefail

PACKAGES=(build-essential cmake pkg-config
          libevent-dev libprotobuf-c-dev protobuf-c-compiler
          libsystemd-dev libcmocka-dev mandoc groff-base)
# The Debian package (scripts/package.sh, ctest package.deb): cpack's DEB
# generator finds binaries with file(1) for dpkg-shlibdeps (dpkg-dev), and
# the test lints the package.
PACKAGES+=(dpkg-dev file lintian)
# Stock QEMU on the broker's ivshmem exports (tests/ivshmem), driven
# over qtest: no KVM needed.
PACKAGES+=(qemu-system-x86)
# The hostile tenants of tests/systemd pass loopback TCP sockets: ip(8)
# brings up the loopback device of the test's network namespace.
PACKAGES+=(iproute2)
# The fuzzers (scripts/fuzz.sh, tests/fuzz): clang and its runtime, which
# has libFuzzer and the sanitizers; dpkg-dev (above) unpacks protobuf-c's
# source for them.
PACKAGES+=(clang libclang-rt-14-dev)
# Without a /dev/kvm of its own, the host runs the KVM tests, benchmarks
# and demo inside a QEMU VM with an emulated SVM CPU
# (tests/qemu-kvm/run-in-vm.sh): QEMU, a kernel with kvm-amd, a static
# busybox for the VM's init.
if [ ! -e /dev/kvm ]; then
  PACKAGES+=(linux-image-amd64 busybox-static cpio)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" \
    || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "setup-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
