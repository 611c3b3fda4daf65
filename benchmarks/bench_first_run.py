#!/usr/bin/env python3
"""Time from the README's first command on a fresh machine to a served page.

    python benchmarks/bench_first_run.py

A fresh copy of the project (tracked and new files), an empty HOME, standard input closed
and no terminal, as tests/test_first_run.py does it; measured twice: with pip's cache empty
(the HOME is new) and warm (the same HOME again, a new copy). The baseline, measured in the
same run under the same conditions, is the least anyone can do: a venv with only
``pip install streamlit`` serving ``streamlit hello``. Also printed: the size of the venv the
first command makes, and of the package's wheel.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def copy_project(dest: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for raw in filter(None, listed):
        source = ROOT / raw.decode()
        if source.is_file():
            target = dest / raw.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return dest


def fresh_env(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TRT_WORKBENCH", "STREAMLIT", "VIRTUAL_ENV", "PYTHONPATH", "DISPLAY"))
    }
    env["HOME"] = str(home)
    env.pop("XDG_CACHE_HOME", None)
    return env


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def time_to_serve(command: str, cwd: Path, env: dict[str, str], port: int, log: Path) -> float:
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(
            command,
            shell=True,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            while True:
                if proc.poll() is not None:
                    raise SystemExit(f"{command!r} exited early; see {log}")
                try:
                    with urllib.request.urlopen(f"http://localhost:{port}/_stcore/health", timeout=2) as r:
                        if r.read() == b"ok":
                            return time.perf_counter() - start
                except OSError:
                    time.sleep(0.5)
        finally:
            if proc.poll() is None:
                os.killpg(os.getpgid(proc.pid), signal.SIGTERM)
                proc.wait(timeout=30)


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        home = base / "home"
        home.mkdir()
        env = fresh_env(home)
        rows = []
        for cache in ("cold", "warm"):
            # The baseline first, so the workbench's cold run does not warm its cache.
            plain = base / f"plain-{cache}"
            plain.mkdir()
            port = free_port()
            baseline = time_to_serve(
                f"{sys.executable} -m venv v && v/bin/pip install -q streamlit && "
                f"v/bin/streamlit hello --server.headless true --server.port {port}",
                plain,
                env,
                port,
                base / f"plain-{cache}.log",
            )
            clone = copy_project(base / f"clone-{cache}")
            port = free_port()
            ours = time_to_serve(f"./dev.sh ui --port {port}", clone, env, port, base / f"ui-{cache}.log")
            rows.append((cache, ours, baseline))
            print(f"{cache} pip cache: README first command -> served page {ours:6.1f} s; "
                  f"plain streamlit from scratch {baseline:6.1f} s; ratio {ours / baseline:.2f}x", flush=True)
        venv_bytes = du(base / "clone-cold" / ".venv")
        dist = base / "dist"
        subprocess.run(
            [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(base / "clone-warm")],
            check=True,
            capture_output=True,
        )
        wheel = next(dist.glob("*.whl"))
        print(f"installed size: .venv {venv_bytes / 2**20:,.0f} MiB "
              f"(streamlit-only venv {du(base / 'plain-cold' / 'v') / 2**20:,.0f} MiB); "
              f"wheel {wheel.stat().st_size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
