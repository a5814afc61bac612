# SPDX-License-Identifier: ISC
# vmrun.sh: sourced by the scripts that run shmbrokerd and guests on
# private sockets (scripts/demo-guests.sh, tests/install/example.sh): a
# scratch directory, the processes started there, both gone when the
# script exits however it exits, the daemon, and the wait for a guest's
# line. Everything may be emulated (tests/qemu-kvm), hence the long waits.

# vmrun_begin NAME: $tmp is a fresh /tmp/NAME.XXXXXX and $pids empty; at
# exit every process in $pids is killed and $tmp removed.
vmrun_begin() {
  tmp=$(mktemp -d "/tmp/$1.XXXXXX")
  pids=()
  trap vmrun_cleanup EXIT
}

vmrun_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}

# vmrun_daemon SHMBROKERD [OPTION...]: the daemon on $tmp/vmm.sock and
# $tmp/admin.sock, logging to $tmp/daemon.log, added to $pids. Returns
# once the admin socket is there; 1, with the log on stderr, when it is
# not after 10 s.
vmrun_daemon() {
  "$1" --socket "$tmp/vmm.sock" --admin-socket "$tmp/admin.sock" \
    --foreground "${@:2}" 2>"$tmp/daemon.log" &
  pids+=($!)
  for _ in $(seq 200); do
    [ -S "$tmp/admin.sock" ] && return 0
    sleep 0.05
  done
  echo "shmbrokerd did not start; its log:" >&2
  cat "$tmp/daemon.log" >&2
  return 1
}

# vmrun_wait_for FILE TEXT PID: waits up to 120 s for the fixed string
# TEXT in FILE, written by process PID, and gives up as soon as PID is
# gone; 1, with a line on stderr, when TEXT never came.
vmrun_wait_for() {
  for _ in $(seq 1200); do
    grep -qF -- "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || break
    sleep 0.1
  done
  grep -qF -- "$2" "$1" 2>/dev/null && return 0
  echo "no '$2' in $1" >&2
  return 1
}
