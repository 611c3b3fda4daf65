"""Run TensorRT work in worker processes, so a parser or builder crash is a reported error.

A crash inside TensorRT's C++ code (a segfault, an abort, an out-of-memory kill) would
take the Streamlit app or the notebook kernel down with it. Every parse and build
therefore runs in a worker process. Workers are long-lived and reused, so isolation does
not cost a fresh interpreter (and a fresh TensorRT import) per task; a worker that
crashes, times out or is cancelled is killed and replaced.

Each worker sends its native stdout/stderr (TensorRT's own prints) to a log file, and
the part of the log written during a task comes back with the task's failure.

The protocol is length-prefixed pickles over the worker's stdin and a duplicate of its
original stdout; both ends are this module, and only plain data crosses it.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from workbench.errors import WorkbenchError

_HEADER = struct.Struct("<Q")


class IsolatedTaskError(WorkbenchError):
    """A task failed inside its worker; ``log`` holds what the worker printed."""

    exit_code = 1

    def __init__(self, message: str, *, log: str = "", detail: str | None = None) -> None:
        super().__init__(message, detail=detail)
        self.log = log


class WorkerCrashed(IsolatedTaskError):
    """The worker process died (segfault, abort, killed for memory)."""


class WorkerTimeout(IsolatedTaskError):
    """The task ran past its time limit; the worker was killed."""


class TaskCancelled(IsolatedTaskError):
    """The user cancelled the task; the worker was killed."""


def _write_frame(stream: IO[bytes], payload: Any) -> None:
    data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _read_exact(stream: IO[bytes], n: int) -> bytes:
    chunks = []
    while n:
        chunk = stream.read(n)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _read_frame(stream: IO[bytes]) -> Any:
    (size,) = _HEADER.unpack(_read_exact(stream, _HEADER.size))
    return pickle.loads(_read_exact(stream, size))


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "was killed"
    if code < 0:
        import signal

        try:
            return f"died from {signal.Signals(-code).name}"
        except ValueError:
            return f"died from signal {-code}"
    return f"exited with status {code}"


def _wait_for_frame(
    reader: IO[bytes],
    *,
    timeout: float,
    cancelled: Callable[[], bool] | None,
    log: Callable[[], str],
    kill: Callable[[], None],
    lost: Callable[[], str],
) -> Any:
    """Read one reply frame, watching the time limit and the cancel flag meanwhile.

    ``lost`` says how the process ended when the stream closed without a whole frame.
    """
    outcome: dict[str, Any] = {}

    def read() -> None:
        try:
            outcome["frame"] = _read_frame(reader)
        except Exception as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while thread.is_alive():
        thread.join(0.02)
        if not thread.is_alive():
            break
        if cancelled is not None and cancelled():
            text = log()
            kill()
            raise TaskCancelled("Cancelled.", log=text)
        if time.monotonic() > deadline:
            text = log()
            kill()
            raise WorkerTimeout(
                f"The task ran longer than its {timeout:.0f} s limit and was stopped.", log=text
            )
    if "frame" in outcome:
        return outcome["frame"]
    how = lost()
    text = log()
    kill()
    raise WorkerCrashed(f"The TensorRT worker process {how}.", log=text)


def _reply_to_result(reply: tuple[Any, ...], log: Callable[[], str]) -> Any:
    """A worker's reply frame as the task's result, or the task's exception raised here."""
    if reply[0] == "ok":
        return reply[1]
    _, kind, message, trace = reply
    if kind == "WorkbenchError":
        raise WorkbenchError(message, detail=trace)
    raise IsolatedTaskError(f"{message}", log=log(), detail=trace)


def _run_task(func: str, kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Worker side: run ``module:function(**kwargs)`` and wrap the outcome as a reply frame."""
    try:
        module_name, _, attr = func.partition(":")
        target = getattr(importlib.import_module(module_name), attr)
        return ("ok", target(**kwargs))
    except WorkbenchError as exc:
        return ("error", "WorkbenchError", exc.message, traceback.format_exc())
    except BaseException as exc:
        return ("error", type(exc).__name__, f"{type(exc).__name__}: {exc}", traceback.format_exc())


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    reader: IO[bytes]
    log_path: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_since(self, offset: int) -> str:
        try:
            with open(self.log_path, "rb") as handle:
                handle.seek(offset)
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.process.kill()
        with contextlib.suppress(Exception):
            self.process.wait(timeout=10)
        for stream in (self.process.stdin, self.reader):
            with contextlib.suppress(Exception):
                if stream is not None:
                    stream.close()
        with contextlib.suppress(OSError):
            self.log_path.unlink()


def _start_worker(env: dict[str, str] | None = None) -> _Worker:
    log_fd, log_name = tempfile.mkstemp(prefix="trt-workbench-worker-", suffix=".log")
    os.close(log_fd)
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    # A task environment may name another interpreter: a managed backend environment
    # (workbench.environments) running the same worker code against another TensorRT.
    python = full_env.get("TRT_WORKBENCH_WORKER_PYTHON") or sys.executable
    process = subprocess.Popen(
        [python, "-m", "workbench.isolation", log_name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=full_env,
    )
    assert process.stdout is not None
    return _Worker(process=process, reader=process.stdout, log_path=Path(log_name))


class WorkerPool:
    """Long-lived worker processes, each running one task at a time."""

    def __init__(self, size: int | None = None, env: dict[str, str] | None = None) -> None:
        self.size = max(1, size or (os.cpu_count() or 1))
        self.env = env
        self._idle: list[_Worker] = []
        self._busy = 0
        self._lock = threading.Condition()
        self._closed = False

    def _acquire(self) -> _Worker:
        with self._lock:
            while True:
                if self._closed:
                    raise WorkbenchError("The worker pool is closed.")
                while self._idle:
                    worker = self._idle.pop()
                    if worker.alive():
                        self._busy += 1
                        return worker
                    worker.kill()
                if self._busy < self.size:
                    self._busy += 1
                    break
                self._lock.wait()
        try:
            return _start_worker(self.env)
        except BaseException:
            with self._lock:
                self._busy -= 1
                self._lock.notify()
            raise

    def _release(self, worker: _Worker | None) -> None:
        with self._lock:
            self._busy -= 1
            if worker is not None and worker.alive() and not self._closed:
                self._idle.append(worker)
            elif worker is not None:
                worker.kill()
            self._lock.notify()

    def run(
        self,
        func: str,
        kwargs: dict[str, Any],
        *,
        timeout: float = 600.0,
        cancelled: Callable[[], bool] | None = None,
    ) -> Any:
        """Run ``module:function(**kwargs)`` in a worker and return its (picklable) result.

        Raises:
            WorkerCrashed, WorkerTimeout, TaskCancelled: the worker was lost; it is replaced.
            IsolatedTaskError: the function raised; its message and traceback come back.
        """
        worker = self._acquire()
        keep: _Worker | None = worker
        try:
            offset = worker.log_size()
            assert worker.process.stdin is not None
            try:
                _write_frame(worker.process.stdin, (func, kwargs))
            except (BrokenPipeError, OSError) as exc:
                keep = None
                worker.kill()
                raise WorkerCrashed(
                    f"The worker process {_describe_exit(worker.process.poll())} before the task started."
                ) from exc
            reply = self._wait(worker, offset, timeout, cancelled)
            return _reply_to_result(reply, lambda: worker.log_since(offset))
        except (WorkerCrashed, WorkerTimeout, TaskCancelled):
            keep = None
            raise
        finally:
            self._release(keep)

    def _wait(
        self, worker: _Worker, offset: int, timeout: float, cancelled: Callable[[], bool] | None
    ) -> Any:
        def lost() -> str:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.process.wait(timeout=5)
            return _describe_exit(worker.process.poll())

        return _wait_for_frame(
            worker.reader,
            timeout=timeout,
            cancelled=cancelled,
            log=lambda: worker.log_since(offset),
            kill=worker.kill,
            lost=lost,
        )

    def prestart(self) -> None:
        """Start one worker now, so its interpreter and TensorRT import overlap the caller's own work."""
        with self._lock:
            if self._closed or self._idle or self._busy >= self.size:
                return
            self._busy += 1
        try:
            worker = _start_worker(self.env)
        finally:
            with self._lock:
                self._busy -= 1
        self._release_new(worker)

    def _release_new(self, worker: _Worker) -> None:
        with self._lock:
            if self._closed:
                worker.kill()
            else:
                self._idle.append(worker)
            self._lock.notify()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for worker in idle:
            with contextlib.suppress(Exception):
                assert worker.process.stdin is not None
                worker.process.stdin.close()
            worker.kill()


_POOLS: dict[tuple[tuple[str, str], ...], WorkerPool] = {}
_POOLS_LOCK = threading.Lock()


def shared_pool(env: dict[str, str] | None = None) -> WorkerPool:
    """The process-wide pool for a given environment (e.g. Polygraphy's RTX switch)."""
    key = tuple(sorted((env or {}).items()))
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            pool = _POOLS[key] = WorkerPool(env=env)
        return pool


def prestart(env: dict[str, str] | None = None) -> None:
    """Start a worker of the shared pool for ``env`` in the background (see WorkerPool.prestart)."""
    shared_pool(env).prestart()


def run_isolated(
    func: str,
    kwargs: dict[str, Any],
    *,
    timeout: float = 600.0,
    cancelled: Callable[[], bool] | None = None,
    env: dict[str, str] | None = None,
) -> Any:
    """Run ``module:function(**kwargs)`` in a shared worker process (see :class:`WorkerPool`)."""
    return shared_pool(env).run(func, kwargs, timeout=timeout, cancelled=cancelled)


@atexit.register
def _close_pools() -> None:
    for pool in list(_POOLS.values()):
        pool.close()


# ----------------------------------------------------------------------------- one-shot fork


def can_fork() -> bool:
    """Whether :func:`start_forked` may be used: Linux, and no other thread yet.

    A fork copies only the calling thread; with other threads alive (a worker pool's
    reader, Streamlit's server) a lock they held could stay locked forever in the child.
    """
    return sys.platform.startswith("linux") and threading.active_count() == 1


class ForkedTask:
    """One task in a child forked from this process: the cheapest isolation for a one-shot
    command. The child starts at once with this interpreter's state (no second Python
    start-up), so forking before the heavy imports lets TensorRT parse while this process
    is still importing onnx. A crash, a time-out or a cancel is reported exactly as a
    pool worker's (:class:`WorkerCrashed`, :class:`WorkerTimeout`, :class:`TaskCancelled`).
    """

    def __init__(self, func: str, kwargs: dict[str, Any], env: dict[str, str] | None = None) -> None:
        log_fd, log_name = tempfile.mkstemp(prefix="trt-workbench-task-", suffix=".log")
        self.log_path = Path(log_name)
        sys.stdout.flush()  # or the child would print what this process buffered, a second time
        sys.stderr.flush()
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            status = 70
            try:
                os.close(read_fd)
                _forked_child(func, kwargs, env or {}, log_fd, write_fd)
                status = 0
            finally:
                os._exit(status)
        os.close(write_fd)
        os.close(log_fd)
        self.pid = pid
        self._reader = os.fdopen(read_fd, "rb")
        self._status: int | None = None
        self._done = False
        _LIVE_FORKS.add(self)

    def _reap(self, block: bool) -> int | None:
        if self._status is None:
            with contextlib.suppress(ChildProcessError):
                pid, status = os.waitpid(self.pid, 0 if block else os.WNOHANG)
                if pid:
                    self._status = os.waitstatus_to_exitcode(status)
        return self._status

    def kill(self) -> None:
        """Stop the child (if still running) and release its pipe and log."""
        _LIVE_FORKS.discard(self)
        if self._reap(block=False) is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, 9)
            self._reap(block=True)
        with contextlib.suppress(Exception):
            self._reader.close()
        with contextlib.suppress(OSError):
            self.log_path.unlink()

    def log(self) -> str:
        try:
            return self.log_path.read_text("utf-8", "replace")
        except OSError:
            return ""

    def result(self, *, timeout: float = 600.0, cancelled: Callable[[], bool] | None = None) -> Any:
        """Wait for the task's result (once); raises as :meth:`WorkerPool.run` does."""
        if self._done:
            raise WorkbenchError("This forked task's result was already taken.")
        self._done = True
        try:
            reply = _wait_for_frame(
                self._reader,
                timeout=timeout,
                cancelled=cancelled,
                log=self.log,
                kill=self.kill,
                lost=lambda: _describe_exit(self._reap(block=True)),
            )
            self._reap(block=True)  # it exits right after its reply
            return _reply_to_result(reply, self.log)
        finally:
            self.kill()


_LIVE_FORKS: set[ForkedTask] = set()


@atexit.register
def _kill_forks() -> None:
    # A caller that failed before taking a result must not leave a child parsing on.
    for task in list(_LIVE_FORKS):
        task.kill()


def start_forked(func: str, kwargs: dict[str, Any], env: dict[str, str] | None = None) -> ForkedTask:
    """Run ``module:function(**kwargs)`` in a forked child (see :class:`ForkedTask`)."""
    if not can_fork():
        raise WorkbenchError("A forked task needs Linux and a single-threaded caller.")
    return ForkedTask(func, kwargs, env)


def _forked_child(func: str, kwargs: dict[str, Any], env: dict[str, str], log_fd: int, write_fd: int) -> None:
    import signal

    # Ctrl-C reaches the whole process group; the parent decides what happens to this child.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.update(env)
    cap_worker_memory()
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    reply = _run_task(func, kwargs)
    sys.stdout.flush()
    sys.stderr.flush()
    with os.fdopen(write_fd, "wb") as out:
        _write_frame(out, reply)


# ----------------------------------------------------------------------------- worker side


def cap_worker_memory() -> None:
    """Cap this worker's data segment, so a runaway allocation fails the task, not the machine.

    RLIMIT_DATA counts heap and private writable mappings (NumPy arrays, protobuf buffers,
    TensorRT's host allocations) but not the large PROT_NONE address-space reservations
    CUDA makes, which an RLIMIT_AS cap would break. The limit is
    ``TRT_WORKBENCH_WORKER_MEMORY_BYTES`` (default 20 GiB on these 24 GiB machines).
    """
    import resource

    from workbench.limits import WORKER_MEMORY

    try:
        limit = int(WORKER_MEMORY.value())
        _soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    except (ValueError, OSError, WorkbenchError):
        pass  # a platform without the limit, or a bad setting: the task runs uncapped


def _worker_main(log_path: str) -> None:
    cap_worker_memory()
    # Keep the protocol on a private copy of stdout, then point fds 1 and 2 at the log so
    # whatever native code prints never corrupts the protocol and is kept for the report.
    protocol_out = os.fdopen(os.dup(1), "wb")
    log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    requests = sys.stdin.buffer
    # Optional warm-up (e.g. importing TensorRT) while the caller is still busy elsewhere.
    preload = os.environ.get("TRT_WORKBENCH_WORKER_PRELOAD")
    if preload:
        try:
            module_name, _, attr = preload.partition(":")
            target = importlib.import_module(module_name)
            if attr:
                getattr(target, attr)()
        except Exception:
            traceback.print_exc()  # the task itself will report the problem
    while True:
        try:
            func, kwargs = _read_frame(requests)
        except EOFError:
            return
        reply = _run_task(func, kwargs)
        sys.stdout.flush()
        sys.stderr.flush()
        _write_frame(protocol_out, reply)


if __name__ == "__main__":
    _worker_main(sys.argv[1])
