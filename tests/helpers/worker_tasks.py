"""Tasks the isolation tests run inside real worker processes."""

from __future__ import annotations

import ctypes
import os
import sys
import time


def echo(value):
    return {"value": value, "pid": os.getpid()}


def segfault():
    print("about to crash", flush=True)
    ctypes.string_at(0)  # reads address 0: SIGSEGV, as a crashing native library would


def abort():
    sys.stderr.write("native abort\n")
    sys.stderr.flush()
    os.abort()


def sleep(seconds):
    time.sleep(seconds)
    return "woke"


def fail():
    raise ValueError("bad value inside the worker")


def native_print_then_value():
    os.write(1, b"native stdout noise\n")  # must not corrupt the protocol
    os.write(2, b"native stderr noise\n")
    return 42


def sleep_pid(seconds):
    time.sleep(seconds)
    return os.getpid()


def allocate(n_bytes):
    """A runaway allocation, touched so it is really resident."""
    block = bytearray(n_bytes)
    return len(block)
