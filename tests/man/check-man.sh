#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# The manual pages render without a warning (mandoc -T lint, groff -ww)
# and do not disagree with the code or README: every configuration key
# the daemon's tables know is in shmbroker.conf(5), every shmctl command
# of `shmctl --help` in shmctl(8) and in README, every shmbrokerd option
# in shmbrokerd(8) and README, every option of `shm-vm --help` in
# shm-vm(1), every function shmclient.h declares in libshmclient(3) and
# every one shmvdev.h declares in libshmvdev(3), and the example of
# shmbroker.conf(5) loads.
# Usage: check-man.sh SOURCE_DIR SHMBROKERD SHMCTL SHM_VM
set -uo pipefail
src=$1 shmbrokerd=$2 shmctl=$3 shmvm=$4
man=$src/man
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

command -v mandoc >/dev/null || { echo "SKIP: mandoc is not installed"; exit 77; }

for page in "$man"/*.[1-8]; do
	out=$(mandoc -T lint -W warning "$page" 2>&1) ||
	    fail "mandoc -T lint $(basename "$page"): $out"
	if command -v groff >/dev/null; then
		out=$(groff -ww -mandoc -z "$page" 2>&1)
		[ -z "$out" ] || fail "groff -ww $(basename "$page"): $out"
	fi
done

# has PAGE MACRO WORD: the page has a line ".MACRO WORD" (then anything).
has() { grep -Eq "^\.$2 $3( |$)" "$man/$1"; }

# Configuration keys, from the daemon's own key tables.
keys=$(sed -n '/_keys\[\] = {/,/NULL/p' "$src"/daemon/config*.c |
    grep -o '"[a-z_]*"' | tr -d '"' | sort -u)
[ -n "$keys" ] || fail "no configuration keys found in daemon/config*.c"
for k in $keys; do
	has shmbroker.conf.5 It "Ic $k" || fail "shmbroker.conf.5 lacks key $k"
done

# shmctl's commands, from its own help.
cmds=$("$shmctl" --help | sed -n '/^commands:/,/^$/p' |
    awk 'NR > 1 && NF { print $1 }')
[ -n "$cmds" ] || fail "no commands in shmctl --help"
for c in $cmds; do
	has shmctl.8 It "Ic $c" || fail "shmctl.8 lacks command $c"
	[ "$c" = help ] || grep -q "$c" <(sed -n '/^shmctl \[/,/^```/p' \
	    "$src/README.md") || fail "README's shmctl usage lacks $c"
done

# shmbrokerd's options, from its own help.
opts=$("$shmbrokerd" --help | grep -o -- '--[a-z-]*' | sort -u)
for o in $opts; do
	has shmbrokerd.8 It "Fl -${o#--}" || has shmbrokerd.8 Op "Fl -${o#--}" ||
	    fail "shmbrokerd.8 lacks option $o"
	grep -q -- "$o" <(sed -n '/^shmbrokerd \[/,/^```/p' "$src/README.md") ||
	    fail "README's shmbrokerd usage lacks $o"
done

# shm-vm's options, from its own help.
opts=$("$shmvm" --help | grep -o -- '--[a-z-]*' | sort -u)
[ -n "$opts" ] || fail "no options in shm-vm --help"
for o in $opts; do
	has shm-vm.1 It "Fl -${o#--}" || has shm-vm.1 Op "Fl -${o#--}" ||
	    fail "shm-vm.1 lacks option $o"
done

# The libraries' functions, from their headers: header_funcs HEADER
# PREFIX lists the functions HEADER declares whose names start with PREFIX.
header_funcs() {
	sed -n "s/^[a-z][a-z0-9_ ]*[ *]\($2[a-z0-9_]*\)(.*/\1/p" "$1" | sort -u
}
for lib in libshmclient:client/shmclient.h:shmc_ \
    libshmvdev:vmm-adapter/shmvdev.h:shmvdev_; do
	IFS=: read -r page header prefix <<<"$lib"
	funcs=$(header_funcs "$src/$header" "$prefix")
	[ -n "$funcs" ] || fail "no functions found in $header"
	synopsis=$(sed -n '/^\.Sh SYNOPSIS/,/^\.Sh DESCRIPTION/p' \
	    "$man/$page.3")
	for f in $funcs; do
		grep -Eq "^\.Fn $f( |\$)" <<<"$synopsis" ||
		    fail "$page.3 lacks $f in its SYNOPSIS"
	done
done

# The example configuration of shmbroker.conf(5) loads.
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
sed -n '/^\.Sh EXAMPLES/,/^\.Ed/p' "$man/shmbroker.conf.5" |
    sed -n '/^\.Bd/,/^\.Ed/p' | sed '1d;$d' >"$tmp/example.conf"
[ -s "$tmp/example.conf" ] || fail "no example in shmbroker.conf.5"
out=$("$shmbrokerd" --config "$tmp/example.conf" --check 2>&1 >/dev/null) ||
    fail "shmbroker.conf.5's example does not load: $out"

if [ "$failures" -gt 0 ]; then
	echo "$failures failures"
	exit 1
fi
echo "man pages: ok ($(ls "$man"/*.[1-8] | wc -l) pages)"
