"""
PID 1 of a test-bed host.

Started by the host's supervisor as ``unshare --mount --uts --pid --fork`` (inside the host's
network namespace), it builds the host's root filesystem (an overlay of the machine's root
with the host's own upper layer), chroots into it and then behaves like a small sysvinit:

- runs the init scripts enabled for runlevel 2 (``/etc/rc2.d/S*``) and starts the host's
  salt-minion when one is configured;
- records runlevel 2 in ``/run/utmp``, so ``runlevel`` and ``invoke-rc.d`` work as on a
  sysvinit host;
- serves ``/run/initctl``, so Debian's own ``reboot``, ``shutdown -r`` and ``poweroff``
  (and so Salt's ``system.reboot``) work unchanged;
- reaps every orphan.

A reboot or power-off request gives running commands a second of grace, runs the stop
scripts of runlevel 6 or 0, ends every process of the host and exits with 6 (reboot) or 0
(halt): the supervisor boots the host again on the same upper layer after a reboot.
"""

import argparse
import errno
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from testbed import timeline  # noqa: E402

INITCTL_MAGIC = 0x03091969
INIT_CMD_RUNLVL = 1
REQUEST_SIZE = 384
EXIT_REBOOT = 6
EXIT_HALT = 0
# struct utmp on x86_64 glibc: a RUN_LVL record as sysvinit writes it.
UTMP = struct.Struct("hxxi32s4s32s256shhiii4i20x")
RUN_LVL = 1


def run(*cmd):
    subprocess.run(list(cmd), check=True)


def build_root(args):
    """Mount the host's filesystems (in this process's private mount namespace)."""
    root = args.root
    run("mount", "-t", "overlay", "overlay", "-o", f"lowerdir=/,upperdir={args.upper},workdir={args.work}", root)
    run("mount", "--rbind", "/dev", os.path.join(root, "dev"))
    run("mount", "-t", "proc", "proc", os.path.join(root, "proc"))
    run("mount", "--rbind", "-o", "ro", "/sys", os.path.join(root, "sys"))
    run("mount", "-t", "tmpfs", "-o", "mode=0755,size=64m", "tmpfs", os.path.join(root, "run"))
    run("mount", "-t", "tmpfs", "-o", "mode=1777,size=256m", "tmpfs", os.path.join(root, "tmp"))
    # The project (its virtualenv runs the minion) at its own path: it may live under /tmp,
    # which the host replaces with its own.
    binds = ((args.shared, timeline.SHARED_MOUNT, "rw"), (args.repo, "/srv/testbed-apt", "ro"), (args.project, args.project, "ro"))
    for source, target, options in binds:
        inside = os.path.join(root, target.lstrip("/"))
        os.makedirs(inside, exist_ok=True)
        run("mount", "--bind", source, inside)
        if options == "ro":
            run("mount", "-o", "remount,bind,ro", inside)


def write_runlevel(level, previous="N"):
    record = UTMP.pack(RUN_LVL, ord(level) + 256 * ord(previous), b"~", b"~~", b"runlevel", b"", 0, 0, 0, int(time.time()), 0, 0, 0, 0, 0)
    with open("/run/utmp", "wb") as handle:
        handle.write(record)


def rc_scripts(level, kind):
    directory = f"/etc/rc{level}.d"
    if not os.path.isdir(directory):
        return []
    return [os.path.join(directory, n) for n in sorted(os.listdir(directory)) if n.startswith(kind) and n[1:3].isdigit()]


def run_scripts(level, kind, action, host):
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "RUNLEVEL": level, "PREVLEVEL": "N", "LANG": "C"}
    stop = threading.Event()
    reaper = threading.Thread(target=keep_reaping, args=(stop,), daemon=True)
    reaper.start()
    for script in rc_scripts(level, kind):
        try:
            process = subprocess.Popen([script, action], env=env, stdin=subprocess.DEVNULL)
            OWN_CHILDREN.add(process.pid)
            try:
                code = process.wait(timeout=60)
            finally:
                OWN_CHILDREN.discard(process.pid)
        except (OSError, subprocess.TimeoutExpired) as exc:
            code = f"error: {exc}"
        if code != 0:
            timeline.record("init-script-failed", host, script=script, action=action, status=code)
    stop.set()
    reaper.join()


def start_minion(args):
    """Start the host's salt-minion, unless Debian's salt-minion package (its init script,
    run with the others) does it."""
    if not os.path.exists("/etc/salt/minion") or not args.salt_minion or os.path.exists("/etc/init.d/salt-minion"):
        return
    subprocess.Popen(
        [args.salt_minion, "-c", "/etc/salt", "--log-file-level=info"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def reap():
    """Collect every orphan that has exited. The init scripts PID 1 itself runs are left to
    their subprocess object (which needs their exit status), so only zombies are taken."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or entry == "1":
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] == "Z" and fields[1] == "1" and int(entry) not in OWN_CHILDREN:
            try:
                os.waitpid(int(entry), os.WNOHANG)
            except ChildProcessError:
                pass


OWN_CHILDREN = set()


def keep_reaping(stop):
    """Reap orphans while PID 1 is busy running scripts (a stopped daemon must not linger
    as a zombie, or start-stop-daemon --stop waits for it in vain)."""
    while not stop.wait(0.05):
        reap()


def end_all_processes(grace):
    """SIGTERM everything but us, wait up to ``grace`` seconds, then SIGKILL."""
    try:
        os.kill(-1, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.time() + grace
    while time.time() < deadline:
        reap()
        if not other_processes():
            return
        time.sleep(0.05)
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        pass
    while other_processes():
        reap()
        time.sleep(0.02)


def other_processes():
    return [p for p in os.listdir("/proc") if p.isdigit() and p != "1" and _alive(p)]


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def read_request(fd):
    try:
        data = os.read(fd, REQUEST_SIZE)
    except OSError as exc:
        if exc.errno == errno.EAGAIN:
            return None
        raise
    if len(data) < 16:
        return None
    magic, cmd, runlevel, _ = struct.unpack("iiii", data[:16])
    if magic != INITCTL_MAGIC or cmd != INIT_CMD_RUNLVL:
        return None
    return chr(runlevel)


def main(argv=None):
    parser = argparse.ArgumentParser()
    for option in ("name", "root", "upper", "work", "shared", "repo", "project", "outer-pid-file"):
        parser.add_argument("--" + option, required=True)
    parser.add_argument("--salt-minion", default="")
    args = parser.parse_args(argv)

    # /proc is still the machine's: it shows our pid as the machine sees it.
    with open(args.outer_pid_file, "w") as handle:
        handle.write(os.readlink("/proc/self"))
    build_root(args)
    socket.sethostname(args.name)
    os.chroot(args.root)
    os.chdir("/")
    for directory in ("/run/lock", "/run/sendsigs.omit.d"):
        os.makedirs(directory, exist_ok=True)
    os.mkfifo("/run/initctl", 0o600)
    fifo = os.open("/run/initctl", os.O_RDONLY | os.O_NONBLOCK)
    keep_open = os.open("/run/initctl", os.O_WRONLY)  # no EOF storm when a writer leaves

    requested = []
    signal.signal(signal.SIGTERM, lambda *_: requested.append("0"))
    signal.signal(signal.SIGINT, lambda *_: requested.append("6"))
    signal.signal(signal.SIGCHLD, lambda *_: None)

    # A host whose /sbin/init is systemd (jessie's systemd-sysv) boots "with systemd": the
    # test bed's init stays PID 1, and systemctl treats the init scripts as units.
    systemd = os.path.islink("/sbin/init") and os.readlink("/sbin/init").endswith("lib/systemd/systemd")
    if systemd:
        os.makedirs("/run/systemd/system", exist_ok=True)
    timeline.record("boot", args.name, init="systemd" if systemd else "sysvinit")
    write_runlevel("2")
    run_scripts("2", "S", "start", args.name)
    start_minion(args)
    open("/run/booted", "w").close()
    timeline.record("booted", args.name)

    while not requested:
        reap()
        try:
            ready, _, _ = select.select([fifo], [], [], 0.5)
        except InterruptedError:
            continue
        if ready:
            level = read_request(fifo)
            if level in ("0", "6"):
                requested.append(level)
    level = requested[0]
    timeline.record("reboot" if level == "6" else "halt", args.name)
    time.sleep(1.0)  # let the command that asked (a minion's reply) get out
    write_runlevel(level, "2")
    run_scripts(level, "K", "stop", args.name)
    end_all_processes(grace=3.0)
    os.close(keep_open)
    os.close(fifo)
    timeline.record("down", args.name, next="boot" if level == "6" else "off")
    sys.exit(EXIT_REBOOT if level == "6" else EXIT_HALT)


if __name__ == "__main__":
    main()
