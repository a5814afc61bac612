#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Every source, build and script file the repository tracks carries an
# SPDX-License-Identifier line at its top (after a #! line), so that a file
# copied out of the project still says under which licence (LICENSE).
# Usage: check-spdx.sh SOURCE_DIR
set -uo pipefail
cd "$1" || exit 1
command -v git >/dev/null && [ -e .git ] ||
    { echo "SKIP: not a git checkout"; exit 77; }
missing=0
while IFS= read -r f; do
	case $f in
	*.c|*.h|*.sh|*.py|*.proto|*.ld|*.map|*.cmake|*.in|*.socket|\
	*CMakeLists.txt|*Makefile|.ci/run|systemd/shmbroker.conf|\
	systemd/sysusers.d/*|man/*.[1-8]) ;;
	*) continue ;;
	esac
	case $f in	# formats that take no comment
	cmake/deb/changelog.in|cmake/deb/conffiles.in) continue ;;
	esac
	head -n 3 "$f" | grep -q 'SPDX-License-Identifier: ISC' ||
	    { echo "no SPDX line: $f"; missing=$((missing + 1)); }
done < <(git ls-files)
[ "$missing" -eq 0 ] || { echo "$missing files without an SPDX line"; exit 1; }
echo "spdx: ok"
