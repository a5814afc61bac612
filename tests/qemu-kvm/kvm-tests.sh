#!/bin/sh
# SPDX-License-Identifier: ISC
# kvm-tests.sh: runs each given test program in turn and fails when one
# fails. run-in-vm.sh runs it inside the QEMU VM, where the build tree is
# read-only and ctest cannot keep its logs; the programs' cmocka output is
# the record.
status=0
for t in "$@"; do
	echo "=== $t"
	"$t"
	rc=$?
	echo "=== $t: exit $rc"
	[ $rc -eq 0 ] || status=1
done
exit $status
