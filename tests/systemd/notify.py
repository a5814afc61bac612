#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""The daemon's side of sd_notify, without systemd: the test binds the
notify socket (a SOCK_DGRAM socket passed as NOTIFY_SOCKET) and starts
shmbrokerd with WATCHDOG_USEC=400000, then checks what it is told:
READY=1 and a STATUS= line at start, WATCHDOG=1 again and again,
RELOADING=1 (with MONOTONIC_USEC) then READY=1 around each SIGHUP, and
STOPPING=1 at SIGTERM. Between the notifications it checks the reloads
themselves: a configuration file with a syntax error is reported with its
file:line and leaves the running settings in place (the daemon keeps
serving, with the old hugepage policy), and a valid one that adds a
[region NAME] makes that region appear in `shmctl list`.

Usage: notify.py SHMBROKERD SHMCTL SD_ATTACH
Exit status: 0 pass, 1 fail, 77 skipped.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

WATCHDOG_USEC = 400000
TIMEOUT_S = 20


class Fail(Exception):
    pass


class Notifications:
    """The test's notify socket and every line received on it, in order."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.lines = []

    def close(self):
        self.sock.close()

    def _receive(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        self.lines.extend(l for l in data.decode().split("\n") if l)
        return True

    def expect(self, what, pred, start=None):
        """Waits for a line matching pred at or after index start (default:
        the next line not yet looked at); returns its index."""
        i = len(self.lines) if start is None else start
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            while i < len(self.lines):
                if pred(self.lines[i]):
                    return i
                i += 1
            if not self._receive(deadline):
                raise Fail("no %s within %d s; got: %s"
                           % (what, TIMEOUT_S, self.lines[-20:]))

    def mark(self):
        """Reads what has arrived so far; returns the index after it."""
        while self._receive(time.monotonic() + 0.05):
            pass
        return len(self.lines)


def not_watchdog(pred):
    return lambda l: l != "WATCHDOG=1" and pred(l)


class Test:
    def __init__(self, shmbrokerd, shmctl, attach):
        self.shmbrokerd, self.shmctl, self.attach = shmbrokerd, shmctl, attach
        self.dir = tempfile.mkdtemp(prefix="shmbroker-notify.")
        self.conf = os.path.join(self.dir, "shmbroker.conf")
        self.admin = os.path.join(self.dir, "admin.sock")
        self.vmm = os.path.join(self.dir, "vmm.sock")
        self.logpath = os.path.join(self.dir, "daemon.log")
        self.notify = Notifications(os.path.join(self.dir, "notify.sock"))
        self.proc = None

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.notify.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        with open(self.logpath) as f:
            return f.read()

    def write_conf(self, text):
        # Replace, not rewrite in place: the daemon may read it any time.
        tmp = self.conf + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self.conf)

    def run(self, *argv):
        r = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60, text=True)
        if r.returncode != 0:
            raise Fail("%s exited %d: %s" % (" ".join(argv), r.returncode,
                                             r.stdout))
        return r.stdout

    def shmctl_out(self, *args):
        return self.run(self.shmctl, "-s", self.admin, *args)

    def regions(self):
        lines = self.shmctl_out("list").splitlines()[1:]
        return {l.split()[1] for l in lines if len(l.split()) > 1}

    def hugepage_policy(self):
        for l in self.shmctl_out("status").splitlines():
            if l.startswith("hugepages:"):
                return l.split()[1]
        raise Fail("shmctl status shows no hugepage policy")

    def reload(self, what):
        """SIGHUP; RELOADING=1 (with MONOTONIC_USEC) then READY=1."""
        start = self.notify.mark()
        self.proc.send_signal(signal.SIGHUP)
        i = self.notify.expect("RELOADING=1 after SIGHUP (%s)" % what,
                               lambda l: l == "RELOADING=1", start)
        self.notify.expect("MONOTONIC_USEC= with RELOADING=1",
                           lambda l: l.startswith("MONOTONIC_USEC="), i)
        j = self.notify.expect("READY=1 after the reload (%s)" % what,
                               lambda l: l == "READY=1", i)
        self.notify.expect("STATUS= after the reload",
                           lambda l: l.startswith("STATUS=serving"), j)

    def start(self):
        self.write_conf("[broker]\ntenancy = open\nhugepages = never\nlog_level = info\n\n"
                        "[region one]\nsize = 1M\n")
        env = dict(os.environ)
        env["NOTIFY_SOCKET"] = os.path.join(self.dir, "notify.sock")
        env["WATCHDOG_USEC"] = str(WATCHDOG_USEC)
        env.pop("WATCHDOG_PID", None)
        env.pop("LISTEN_FDS", None)
        with open(self.logpath, "w") as log:
            self.proc = subprocess.Popen(
                [self.shmbrokerd, "--socket", self.vmm, "--admin-socket",
                 self.admin, "--config", self.conf],
                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        i = self.notify.expect("READY=1 at start", lambda l: l == "READY=1",
                               0)
        self.notify.expect("STATUS= at start",
                           lambda l: l.startswith("STATUS=serving"), i)
        print("start: READY=1, %s" % next(
            l for l in self.notify.lines if l.startswith("STATUS=")))

    def check_watchdog(self):
        i = self.notify.mark()
        for n in range(3):
            i = self.notify.expect("WATCHDOG=1 (ping %d)" % (n + 1),
                                   lambda l: l == "WATCHDOG=1", i) + 1
        if "watchdog: pinging every 200 ms" not in self.log():
            raise Fail("the daemon did not ping at half WATCHDOG_USEC")
        print("watchdog: WATCHDOG=1 repeatedly")

    def check_bad_reload(self):
        if self.hugepage_policy() != "never" or "one" not in self.regions():
            raise Fail("the initial configuration is not in force")
        # Line 3 would change the policy, line 4 is the error.
        self.write_conf("[broker]\ntenancy = open\nhugepages = require\n"
                        "this is not ini\n[region bad]\nsize = 1M\n")
        self.reload("broken file")
        want = "%s:4: syntax error" % self.conf
        if want not in self.log():
            raise Fail("the reload error does not name %s:4" % self.conf)
        if self.proc.poll() is not None:
            raise Fail("the daemon exited after a broken reload")
        if self.hugepage_policy() != "never":
            raise Fail("a broken file changed the hugepage policy")
        regions = self.regions()
        if "bad" in regions or "one" not in regions:
            raise Fail("a broken file changed the regions: %s" % regions)
        self.run(self.attach, self.vmm, "one")
        print("broken reload: '%s' logged, old settings kept" % want)

    def check_good_reload(self):
        self.write_conf("[broker]\ntenancy = open\nhugepages = never\nlog_level = info\n\n"
                        "[region one]\nsize = 1M\n\n"
                        "[region two]\nsize = 2M\n")
        self.reload("valid file")
        if "configuration reloaded" not in self.log():
            raise Fail("the daemon did not log the reload")
        if not {"one", "two"} <= self.regions():
            raise Fail("region two did not appear: %s" % self.regions())
        self.run(self.attach, self.vmm, "two")
        print("valid reload: region two created and served")

    def check_stop(self):
        start = self.notify.mark()
        self.proc.send_signal(signal.SIGTERM)
        self.notify.expect("STOPPING=1 at SIGTERM",
                           not_watchdog(lambda l: l == "STOPPING=1"), start)
        try:
            rc = self.proc.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise Fail("the daemon did not exit after SIGTERM")
        if rc != 0:
            raise Fail("the daemon exited %d after SIGTERM" % rc)
        print("stop: STOPPING=1, exit 0")


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    # ctest's timeout sends SIGTERM: unwind through the cleanup.
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    t = Test(*sys.argv[1:4])
    try:
        t.start()
        t.check_watchdog()
        t.check_bad_reload()
        t.check_good_reload()
        t.check_stop()
    except (Fail, subprocess.TimeoutExpired) as e:
        print("FAIL: %s" % e)
        print("--- daemon output")
        print(t.log())
        return 1
    finally:
        t.cleanup()
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
