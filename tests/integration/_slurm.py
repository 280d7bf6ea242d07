"""A throw-away one-node SLURM cluster for tests: Debian's slurm-wlm and munge, a temp dir.

The node is this machine under its real hostname, with the CPUs and memory
``slurmd -C`` reports. munged, slurmctld and slurmd run as this test's own child
processes (in the foreground, no systemd), each with its state, spool, pid and log
files under one temporary directory and with free TCP ports, so a site's own Slurm
(if any) is never touched. The daemons run as the test's user (root in CI) with the
plugins that need no privileges or cgroups: ``proctrack/linuxproc``, ``task/none``,
no accounting. Clients (sbatch, squeue, scancel, sinfo) find the
cluster through ``SLURM_CONF``: :meth:`SlurmCluster.env` returns the environment to
run them (and molspace, whose dask-jobqueue calls sbatch) with.

``slurm_cluster()`` stops every daemon (and cancels every job) and removes the
directory, also when the test fails.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SlurmCluster", "missing_slurm_binaries", "slurm_cluster"]

_BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo")
_SBIN = ("/usr/sbin", "/usr/bin", "/sbin")


def _which(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in _SBIN:
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def missing_slurm_binaries() -> list[str]:
    """The daemons and clients the fixture needs that are not installed."""
    return [name for name in _BINARIES if _which(name) is None]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _node_resources() -> tuple[int, int]:
    """(CPUs, RealMemory in MB) of this machine as slurmd itself counts them."""
    done = subprocess.run(
        [_which("slurmd") or "slurmd", "-C"], capture_output=True, text=True, timeout=30
    )
    fields = dict(
        item.split("=", 1) for item in done.stdout.split() if "=" in item and item[0].isupper()
    )
    return int(fields["CPUs"]), int(fields["RealMemory"])


@dataclass
class SlurmCluster:
    """A running one-node cluster: its config, node name, and how to talk to it."""

    base: Path
    conf: Path
    node: str
    cpus: int
    memory_mb: int
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        """``os.environ`` plus ``SLURM_CONF`` pointing at this cluster."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run a Slurm client command against this cluster (raises on failure)."""
        command = [_which(args[0]) or args[0], *args[1:]]
        return subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=True, env=self.env()
        )

    def jobs(self, name: str | None = None) -> list[dict[str, str]]:
        """Queued and running jobs (id, name, state), optionally only those named ``name``."""
        out = self.run("squeue", "--noheader", "--format=%i|%j|%T").stdout
        rows = [
            dict(zip(("id", "name", "state"), line.split("|"), strict=True)) for line in out.split()
        ]
        return [r for r in rows if name is None or r["name"] == name]

    def node_state(self) -> str:
        return self.run("sinfo", "--noheader", "--Node", "--format=%T").stdout.strip()

    def log_tail(self, chars: int = 3000) -> str:
        """The end of every daemon log, for a failing test's message."""
        parts = []
        for log in sorted((self.base / "log").glob("*.log")):
            parts.append(f"--- {log.name}\n{log.read_text(errors='replace')[-chars:]}")
        return "\n".join(parts)


def _slurm_conf(base: Path, node: str, cpus: int, memory_mb: int) -> str:
    """One controller and one node (this host), both run as root without cgroups."""
    return f"""\
ClusterName=molspace-test
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser={getpass.getuser()}
SlurmdUser={getpass.getuser()}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={base / "munge" / "munge.socket"}
StateSaveLocation={base / "state"}
SlurmdSpoolDir={base / "spool" / "%n"}
SlurmctldPidFile={base / "run" / "slurmctld.pid"}
SlurmdPidFile={base / "run" / "slurmd.pid"}
SlurmctldLogFile={base / "log" / "slurmctld.log"}
SlurmdLogFile={base / "log" / "slurmd.log"}
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
SchedulerType=sched/backfill
MinJobAge=30
KillWait=30
SlurmdTimeout=60
InactiveLimit=0
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName=cpu Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""


@contextmanager
def slurm_cluster(timeout: float = 60) -> Iterator[SlurmCluster]:
    """Start munged, slurmctld and slurmd on this machine; yield once the node is idle."""
    missing = missing_slurm_binaries()
    if missing:
        raise FileNotFoundError(f"Slurm/munge not installed: {', '.join(missing)}")
    # not pytest's tmp_path: munged refuses a socket directory other users can write to
    base = Path(tempfile.mkdtemp(prefix="molspace-slurm-"))
    for sub in ("munge", "state", "spool", "run", "log"):
        (base / sub).mkdir(mode=0o700)
    os.chmod(base, 0o755)
    node = socket.gethostname().split(".")[0]
    cpus, memory_mb = _node_resources()
    conf = base / "slurm.conf"
    conf.write_text(_slurm_conf(base, node, cpus, memory_mb))
    key = base / "munge" / "munge.key"
    subprocess.run(
        [_which("mungekey") or "mungekey", "--create", "--keyfile", str(key), "--bits", "1024"],
        check=True,
        capture_output=True,
        timeout=30,
    )
    os.chmod(key, 0o600)
    cluster = SlurmCluster(base, conf, node, cpus, memory_mb)
    env = cluster.env()

    def start(name: str, *args: str) -> None:
        log = open(base / "log" / f"{name}.out", "wb")  # noqa: SIM115 - lives with the process
        cluster.processes[name] = subprocess.Popen(
            [_which(name) or name, *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # a Ctrl-C of pytest reaches pytest, not the daemons
        )

    try:
        start(
            "munged",
            "--foreground",
            "--force",
            f"--socket={base / 'munge' / 'munge.socket'}",
            f"--key-file={key}",
            f"--log-file={base / 'log' / 'munged.log'}",
            f"--pid-file={base / 'run' / 'munged.pid'}",
            f"--seed-file={base / 'munge' / 'munged.seed'}",
        )
        _wait(lambda: (base / "munge" / "munge.socket").exists(), timeout, "munged", cluster)
        start("slurmctld", "-D", "-f", str(conf))
        start("slurmd", "-D", "-f", str(conf), "-N", node)
        _wait(lambda: _idle(cluster), timeout, f"node {node} idle", cluster)
        yield cluster
    finally:
        _stop(cluster)
        shutil.rmtree(base, ignore_errors=True)


def _idle(cluster: SlurmCluster) -> bool:
    for name, process in cluster.processes.items():
        if process.poll() is not None:
            raise RuntimeError(
                f"{name} exited with {process.returncode}\n{cluster.log_tail()}" + _outputs(cluster)
            )
    try:
        return cluster.node_state() == "idle"
    except subprocess.SubprocessError:
        return False


def _outputs(cluster: SlurmCluster) -> str:
    return "".join(
        f"\n--- {p.name}\n{p.read_text(errors='replace')[-2000:]}"
        for p in sorted((cluster.base / "log").glob("*.out"))
    )


def _wait(ready: Callable[[], bool], timeout: float, what: str, cluster: SlurmCluster) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.5)
    raise TimeoutError(f"{what}: not ready after {timeout:.0f} s\n{cluster.log_tail()}")


def _stop(cluster: SlurmCluster) -> None:
    """Cancel every job, then stop slurmd, slurmctld and munged (SIGKILL after 15 s)."""
    if cluster.processes.get("slurmctld") and cluster.processes["slurmctld"].poll() is None:
        with suppress(subprocess.SubprocessError, OSError):
            cluster.run("scancel", "--full", f"--user={getpass.getuser()}", timeout=15)
            deadline = time.monotonic() + 15
            while cluster.jobs() and time.monotonic() < deadline:
                time.sleep(0.5)
    for name in ("slurmd", "slurmctld", "munged"):
        process = cluster.processes.get(name)
        if process is None or process.poll() is not None:
            continue
        with suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
