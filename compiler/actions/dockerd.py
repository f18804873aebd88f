"""A private Docker engine: Debian's `dockerd` on its own socket, for tests and for users.

No engine runs on a build host by default. This starts one as root with a private socket,
exec root and pidfile under a fresh /tmp folder, and a data root at a fixed path so images
(the base image takes minutes to make) survive between runs. Networking stays off the host:
no bridge and no iptables rules; containers run with network_mode="host".

Two engines on one data root would corrupt it, so the data root is guarded by a lock file
held for the engine's life. An engine left behind by a killed session is recorded in the
owner file and stopped (by its pid) before a new one starts.

Run `python -m compiler.actions.dockerd` to keep one up in the foreground; it prints the
DOCKER_HOST to export and stops the engine on Ctrl-C.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_ROOT = Path("/var/lib/deployc-docker")
STORAGE_DRIVERS = ("overlay2", "vfs")


class EngineError(RuntimeError):
    pass


@dataclass
class Engine:
    host: str  # the DOCKER_HOST value, unix:///tmp/deployc-dockerd-XXXX/docker.sock
    run_dir: Path
    data_root: Path
    storage_driver: str
    process: subprocess.Popen
    lock_fd: int

    @property
    def log(self) -> Path:
        return self.run_dir / "dockerd.log"


def missing_requirements() -> str | None:
    """Why no private engine can start here, or None when it can."""
    if os.geteuid() != 0:
        return "dockerd needs root (running as uid %d)" % os.geteuid()
    if shutil.which("dockerd") is None:
        return "dockerd is not installed (Debian package docker.io)"
    return None


def ping(host: str, timeout_s: float = 2.0) -> bool:
    """GET /_ping on a unix socket: the engine's own readiness probe, with no SDK needed."""
    path = host.removeprefix("unix://")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout_s)
            s.connect(path)
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            reply = s.recv(4096)
    except OSError:
        return False
    return reply.startswith(b"HTTP/1.") and reply.rstrip().endswith(b"OK")


def start(data_root: Path = DEFAULT_DATA_ROOT, timeout_s: float = 90.0, lock_wait_s: float = 900.0) -> Engine:
    problem = missing_requirements()
    if problem:
        raise EngineError(problem)
    data_root = Path(data_root)
    data_root.mkdir(parents=True, exist_ok=True)
    lock_fd = _lock(data_root, lock_wait_s)
    try:
        _stop_orphan(data_root)
        errors = []
        for driver in STORAGE_DRIVERS:
            try:
                return _start_with(driver, data_root, lock_fd, timeout_s)
            except EngineError as exc:
                errors.append(f"{driver}: {exc}")
        raise EngineError("dockerd did not start:\n" + "\n".join(errors))
    except BaseException:
        os.close(lock_fd)
        raise


def stop(engine: Engine, timeout_s: float = 30.0) -> None:
    _terminate(engine.process.pid, timeout_s)
    engine.process.wait(timeout=5)
    _owner_file(engine.data_root).unlink(missing_ok=True)
    shutil.rmtree(engine.run_dir, ignore_errors=True)
    os.close(engine.lock_fd)


def _start_with(driver: str, data_root: Path, lock_fd: int, timeout_s: float) -> Engine:
    run_dir = Path(tempfile.mkdtemp(prefix="deployc-dockerd-", dir="/tmp"))
    host = f"unix://{run_dir}/docker.sock"
    cmd = ["dockerd", "--host", host, "--data-root", str(data_root), "--exec-root", str(run_dir / "exec"),
           "--pidfile", str(run_dir / "dockerd.pid"), "--storage-driver", driver,
           "--bridge=none", "--iptables=false", "--ip-forward=false", "--ip-masq=false"]
    log = open(run_dir / "dockerd.log", "wb")
    # Its own session: a Ctrl-C meant for the tests must not kill the engine mid-build.
    process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True)
    log.close()
    engine = Engine(host, run_dir, data_root, driver, process, lock_fd)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = _tail(engine.log)
            shutil.rmtree(run_dir, ignore_errors=True)
            raise EngineError(f"exited with {process.returncode}: {tail}")
        if ping(host):
            _owner_file(data_root).write_text(f"{process.pid}\n")
            return engine
        time.sleep(0.2)
    _terminate(process.pid, 10)
    tail = _tail(engine.log)
    shutil.rmtree(run_dir, ignore_errors=True)
    raise EngineError(f"no reply on {host} after {timeout_s:.0f}s: {tail}")


def _lock(data_root: Path, wait_s: float) -> int:
    fd = os.open(str(data_root.parent / f"{data_root.name}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise EngineError(f"another engine holds {data_root} (lock file {data_root}.lock)")
            time.sleep(1)


def _owner_file(data_root: Path) -> Path:
    return data_root.parent / f"{data_root.name}.owner"


def _stop_orphan(data_root: Path) -> None:
    """We hold the lock, so a dockerd still on this data root was left by a killed session."""
    owner = _owner_file(data_root)
    try:
        pid = int(owner.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        owner.unlink(missing_ok=True)
        return
    if cmdline and cmdline[0].endswith(b"dockerd") and str(data_root).encode() in cmdline:
        _terminate(pid, 30)
    owner.unlink(missing_ok=True)


def _terminate(pid: int, timeout_s: float) -> None:
    """SIGTERM lets dockerd stop its containers and containerd; SIGKILL only if it hangs."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.2)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _tail(path: Path, lines: int = 8) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def main() -> None:
    try:
        engine = start()
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    print(f"export DOCKER_HOST={engine.host}   # storage driver {engine.storage_driver}; Ctrl-C stops it", flush=True)
    try:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        engine.process.wait()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        stop(engine)


if __name__ == "__main__":
    main()
