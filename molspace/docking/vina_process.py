"""Vina in a child process, so a per-molecule time limit can really stop it.

Vina's docking is one C++ call that Python cannot interrupt (a thread keeps
running, a signal waits until the call returns). Each docking thread therefore
talks to its own child process over a pipe, one JSON line per molecule; when a
search outlasts its limit the child is killed and the next molecule starts a
fresh one (the receptor maps are recomputed, about a second). The child keeps
the maps between molecules, so the pipe costs nothing measurable per molecule.

The child runs this file as a script and imports only ``vina``: starting one is
cheap, and it never loads molspace, RDKit or Dask. It exits when its stdin
closes (the parent ended). A parent killed outright leaves its child to finish
the molecule in hand, then exit.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["DockTimeout", "VinaCrash", "VinaProcess", "VinaResult"]

STARTUP_SECONDS = 300.0  # receptor maps of a large box on a loaded machine


class DockTimeout(Exception):
    """The search outlasted its time limit; the child was killed."""


class VinaCrash(Exception):
    """The child died or answered nonsense (a Vina abort, a bad receptor)."""


@dataclass(frozen=True)
class VinaResult:
    """Energies (kcal/mol; rows = poses, column 0 = total) and poses (PDBQT), or an error."""

    energies: list[list[float]]
    poses: str
    error: str | None = None


class VinaProcess:
    """One child process holding Vina with the receptor maps of one target box.

    The receptor travels as text, so a worker on another machine needs no shared
    file system.
    """

    def __init__(
        self,
        receptor_pdbqt: str,
        center: list[float],
        size: list[float],
        *,
        scoring: str = "vina",
        seed: int = 0,
    ) -> None:
        self.config = {
            "receptor": receptor_pdbqt,
            "center": center,
            "size": size,
            "scoring": scoring,
            "seed": seed,
        }
        self._proc: subprocess.Popen[bytes] | None = None
        self._buffer = b""

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        self._proc = subprocess.Popen(
            [sys.executable, "-u", os.path.abspath(__file__)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._buffer = b""
        reply = self._ask(self.config, STARTUP_SECONDS)
        if "error" in reply:
            self.close()
            raise VinaCrash(f"receptor: {reply['error']}")
        return self._proc

    def _ask(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(json.dumps(message).encode() + b"\n")
            proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            self.close()
            raise VinaCrash(f"Vina process gone ({exc})") from exc
        deadline = time.monotonic() + timeout
        fd = proc.stdout.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    self.close()
                    raise DockTimeout(f"exceeded {timeout:g} s")
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    code = proc.poll()
                    self.close()
                    raise VinaCrash(f"Vina process died (exit code {code})")
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            reply: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError as exc:
            self.close()
            raise VinaCrash("Vina process answered garbage") from exc
        return reply

    def dock(
        self,
        ligand_pdbqt: str,
        *,
        exhaustiveness: int,
        n_poses: int,
        energy_range: float,
        time_limit: float,
    ) -> VinaResult:
        """Dock one prepared ligand; raises DockTimeout or VinaCrash, else a result."""
        self._start()
        reply = self._ask(
            {
                "ligand": ligand_pdbqt,
                "exhaustiveness": exhaustiveness,
                "n_poses": n_poses,
                "energy_range": energy_range,
            },
            time_limit,
        )
        if "error" in reply:
            return VinaResult([], "", str(reply["error"]))
        return VinaResult(reply["energies"], reply["poses"])

    def close(self) -> None:
        """Kill the child (if any); the next ``dock`` starts a fresh one."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()

    def __del__(self) -> None:  # a forgotten process must not outlive its owner
        with contextlib.suppress(Exception):  # interpreter shutdown
            self.close()


def _serve() -> None:  # pragma: no cover - runs in the child (tested through VinaProcess)
    """Child: build Vina from the first line, then answer one line per molecule."""
    protocol = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything Vina prints goes to stderr, never into the protocol

    def answer(message: dict[str, Any]) -> None:
        protocol.write(json.dumps(message) + "\n")
        protocol.flush()

    import tempfile

    from vina import Vina

    config = json.loads(sys.stdin.readline())
    try:
        engine = Vina(sf_name=config["scoring"], cpu=1, seed=config["seed"], verbosity=0)
        with tempfile.TemporaryDirectory(prefix="molspace-vina-") as tmp:
            path = os.path.join(tmp, "receptor.pdbqt")  # Vina reads receptors from files only
            with open(path, "w") as handle:
                handle.write(config["receptor"])
            engine.set_receptor(path)
        engine.compute_vina_maps(center=config["center"], box_size=config["size"])
    except Exception as exc:
        answer({"error": str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)})
        return
    answer({"ready": True})
    for line in sys.stdin:
        request = json.loads(line)
        try:
            engine.set_ligand_from_string(request["ligand"])
            engine.dock(exhaustiveness=request["exhaustiveness"], n_poses=request["n_poses"])
            energies = engine.energies(request["n_poses"], request["energy_range"])
            poses = engine.poses(request["n_poses"], request["energy_range"])
            answer({"energies": [list(map(float, row)) for row in energies], "poses": poses})
        except Exception as exc:
            text = str(exc).strip()
            answer({"error": text.splitlines()[-1] if text else repr(exc)})


if __name__ == "__main__":
    _serve()
