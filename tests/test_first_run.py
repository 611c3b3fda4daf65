"""The newcomer path, as a new user meets it: a fresh copy of the project, an empty HOME,
standard input closed and no terminal; and a wheel installed far from any source tree.

Both tests set up real virtual environments from scratch (minutes each), so they are
``slow``; CI runs them, because nothing else would notice if the first command a user
types stopped working.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from browser import CHROMIUM, browser_page, screenshot
from conftest import ROOT

pytestmark = pytest.mark.slow

SERVING = re.compile(r"serving at (http://\S+)")
#: What Streamlit prints when it is about to wait for a keyboard: must never appear.
PROMPTS = ("Welcome to Streamlit", "Email:", "email address")


def readme_commands() -> list[str]:
    """The two commands the README starts with (the first ``bash`` block), comments dropped."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "README.md must start with a bash block of the two commands"
    return [line.split("#", 1)[0].strip() for line in block.group(1).splitlines() if line.strip()]


def copy_project(dest: Path) -> Path:
    """A fresh clone of the working tree: tracked and new files, nothing git ignores."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for raw in listed:
        if not raw:
            continue
        rel = Path(raw.decode())
        source = ROOT / rel
        if source.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / rel)
    return dest


def fresh_environment(home: Path, **extra: str) -> dict[str, str]:
    """The machine's environment with a new, empty HOME and none of ours or the test run's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TRT_WORKBENCH", "STREAMLIT", "VIRTUAL_ENV", "PYTEST", "PYTHONPATH"))
    }
    path = [p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(Path(sys.executable).parent))]
    env.update(HOME=str(home), PATH=os.pathsep.join(path), **extra)
    env.pop("XDG_CACHE_HOME", None)
    env.pop("DISPLAY", None)
    return env


@contextmanager
def started(command: list[str] | str, *, cwd: Path, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """Run a command with standard input closed, in its own session (no terminal)."""
    with open(log, "w") as out:
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            shell=isinstance(command, str),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            with_group = os.getpgid(proc.pid) if proc.poll() is None else None
            if with_group is not None:
                os.killpg(with_group, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(with_group, signal.SIGKILL)


def wait_for_url(proc: subprocess.Popen, log: Path, timeout: float) -> tuple[str, float]:
    """The URL the workbench says it serves at, once its health endpoint answers."""
    start = time.monotonic()
    deadline = start + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        for prompt in PROMPTS:
            assert prompt not in text, f"the first run asked for keyboard input:\n{text[-2000:]}"
        found = SERVING.search(text)
        if found:
            url = found.group(1)
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as answer:
                assert answer.read() == b"ok"
            return url, time.monotonic() - start
        if proc.poll() is not None:
            pytest.fail(f"the command exited with {proc.returncode} before serving:\n{text[-4000:]}")
        time.sleep(1)
    pytest.fail(f"nothing served within {timeout:.0f} s:\n{log.read_text(errors='replace')[-4000:]}")


def model_page_shows(url: str, sample_title: str, sample_file: str, shot: str) -> str:
    with browser_page() as page:
        page.goto(f"{url}/")  # type: ignore[attr-defined]
        page.get_by_text(f"Operators in {sample_file}").first.wait_for(timeout=120_000)  # type: ignore[attr-defined]
        body = page.inner_text("body")  # type: ignore[attr-defined]
        screenshot(page, shot)
    assert sample_title in body
    assert "Deploy" not in body, "a local tool shows no Deploy button"
    return body


needs_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason="Debian chromium is not installed (apt-get install chromium)"
)


@pytest.mark.browser
@needs_chromium
def test_readme_first_command_serves_on_a_fresh_machine(tmp_path: Path) -> None:
    first, second = readme_commands()[:2]
    assert first.startswith("./dev.sh ui") and second.startswith("./dev.sh test")
    clone = copy_project(tmp_path / "clone")
    home = tmp_path / "home"
    home.mkdir()
    env = fresh_environment(home)
    log = tmp_path / "first-run.log"
    with started(first, cwd=clone, env=env, log=log) as proc:
        url, seconds = wait_for_url(proc, log, timeout=1800)
        model_page_shows(url, "ResNet-18 topology at half width", "resnet_cnn.onnx", "first_run_model_page")
        assert proc.poll() is None, "the server must keep serving"
    print(f"README first command: served after {seconds:.0f} s")
    assert not (home / ".streamlit" / "credentials.toml").exists(), "no credentials prompt was answered"
    assert (clone / ".venv" / "bin" / "trt-workbench").exists()


def build_distributions(tmp_path: Path) -> tuple[Path, Path]:
    """A wheel and an sdist with the standard tool, from a copy (nothing lands in the tree)."""
    source = copy_project(tmp_path / "source")
    dist = tmp_path / "dist"
    done = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(dist), str(source)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    wheels = list(dist.glob("*.whl"))
    sdists = list(dist.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1
    return wheels[0], sdists[0]


@pytest.mark.rtx
@pytest.mark.quant
def test_wheel_installs_and_runs_outside_the_source_tree(tmp_path: Path) -> None:
    import tarfile
    import zipfile

    wheel, sdist = build_distributions(tmp_path)
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    for needed in (
        "workbench/bundled_models/manifest.json",
        "workbench/bundled_models/resnet_cnn.onnx",
        "workbench/bundled_models/external_data/detector_external.onnx.data",
        "workbench/ui/app_main.py",
    ):
        assert needed in names, f"the wheel lacks {needed}"
    with tarfile.open(sdist) as tf:
        members = {m.name.split("/", 1)[1] for m in tf.getmembers() if "/" in m.name}
    assert "sample_models/generate.py" in members and "workbench/bundled_models/manifest.json" in members

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONPATH", "VIRTUAL_ENV", "TRT_WORKBENCH"))}
    env["TRT_WORKBENCH_HOME"] = str(tmp_path / "wbhome")
    # The README's CPU install: torch's CPU build first (the pin's default Linux wheel is CUDA).
    for args in (["torch==2.13.0"], [f"{wheel}[rtx,quant]"]):
        done = subprocess.run(
            [str(py), "-m", "pip", "install", "-q", *args], cwd=work, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-3000:]
    exe = venv / "bin" / "trt-workbench"

    def cli(*args: str, expect: int = 0) -> str:
        done = subprocess.run([str(exe), *args], cwd=work, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == expect, f"{args}: {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        return done.stdout + done.stderr

    where = subprocess.run(
        [str(py), "-c", "import workbench; print(workbench.__file__)"], cwd=work, env=env, capture_output=True, text=True
    ).stdout.strip()
    assert where.startswith(str(venv)), f"workbench imported from {where}, not the installed wheel"

    assert "resnet_cnn.onnx" in cli("summary", "sample:resnet_cnn")
    assert "bundled sample" in cli("summary", "transformer_encoder.onnx")
    cli("summary", "sample:external_data/detector_external.onnx")
    cli("fixes")
    cli("env")
    cli("diagnose", "sample:broken_reduce_axes_subgraph", expect=1)
    cli("fix", "sample:broken_reduce_axes_subgraph", "-o", str(work / "fixed.onnx"), "--auto", "--script", str(work / "fix.py"))
    assert (work / "fixed.onnx").is_file() and (work / "fix.py").is_file()
    cli("diagnose", str(work / "fixed.onnx"))
    cli("build", "sample:detector", "--precision", "fp32,fp16", "-o", str(work / "ws"))
    import numpy as np

    calib = work / "calib.npz"
    rng = np.random.default_rng(0)
    np.savez(calib, image=rng.normal(size=(16, 3, 128, 128)).astype(np.float32))
    cli("calib-check", "sample:detector", str(calib))
    cli(
        "keep-precision", "sample:detector", "--precision", "int8", "--calib", str(calib),
        "--tolerance", "cosine=0.5", "--max-trials", "2", "-o", str(work / "ws"),
    )
    cli("compare", "sample:detector", "--precision", "fp16", "-o", str(work / "ws"))
    cli("profile", "sample:detector", "--iterations", "5", "-o", str(work / "ws"))
    cli("report", str(work / "ws"), "-o", str(work / "report.html"))
    assert (work / "report.html").stat().st_size > 10_000

    home = tmp_path / "home"
    home.mkdir()
    ui_env = fresh_environment(home, TRT_WORKBENCH_HOME=str(tmp_path / "wbhome"))
    ui_env["PATH"] = f"{venv / 'bin'}{os.pathsep}{ui_env['PATH']}"
    log = tmp_path / "ui.log"
    with started([str(exe), "ui"], cwd=work, env=ui_env, log=log) as proc:
        url, _ = wait_for_url(proc, log, timeout=180)
        if os.path.exists(CHROMIUM):
            model_page_shows(url, "ResNet-18 topology at half width", "resnet_cnn.onnx", "wheel_model_page")
