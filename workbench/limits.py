"""The limits that keep hostile or careless input from hurting the machine.

One table: each limit has a default sized for the machines the workbench runs on (24 GiB
of memory), an environment variable that raises it, and, where a command takes it, a
flag. A refusal names both, so the user who really has a 30 GB archive knows what to set.
Checks run on what a file *declares* (zip directory sizes, an ``.npy`` header, image
dimensions, ONNX dims) before anything is allocated or unpacked, and unpacking counts the
bytes it really writes, because declarations can lie.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from workbench.errors import WorkbenchError

GiB = 2**30


class LimitError(WorkbenchError):
    """Input larger than a limit allows (the message names how to raise it)."""


@dataclass(frozen=True)
class Limit:
    name: str
    env: str
    default: float
    what: str
    #: The command-line flag that sets it, where commands take one.
    flag: str | None = None
    unit: str = "bytes"

    def value(self) -> float:
        raw = os.environ.get(self.env)
        if raw is None or raw.strip() == "":
            return self.default
        try:
            value = float(raw)
        except ValueError:
            raise WorkbenchError(f"{self.env}={raw!r} is not a number.") from None
        if not value > 0:
            raise WorkbenchError(f"{self.env}={raw!r} must be a positive number.")
        return value

    def how_to_raise(self) -> str:
        ways = f"{self.env}=N" + (f" or {self.flag} N" if self.flag else "")
        return f"raise the limit with {ways}"

    def check(self, amount: float, subject: str) -> None:
        """Refuse ``amount`` above the limit, in one sentence about ``subject``."""
        limit = self.value()
        if amount > limit:
            raise LimitError(
                f"{subject} {_describe(amount, self.unit)}, more than the {_describe(limit, self.unit)} "
                f"allowed for {self.what} ({self.how_to_raise()})."
            )


def _describe(amount: float, unit: str) -> str:
    if unit == "bytes":
        if amount >= GiB:
            return f"{amount / GiB:,.1f} GiB"
        if amount >= 2**20:
            return f"{amount / 2**20:,.1f} MiB"
        return f"{int(amount):,} bytes"
    if unit == "x":
        return f"{amount:,.0f}x"
    return f"{int(amount):,} {unit}"


UNPACKED_BYTES = Limit(
    "unpacked_bytes", "TRT_WORKBENCH_MAX_UNPACKED_BYTES", 16 * GiB, "an unpacked archive", "--max-unpacked-bytes"
)
#: zip bombs reach ratios of thousands; real model weights compress 1.1-3x, images ~1x, sparse arrays more.
COMPRESSION_RATIO = Limit(
    "compression_ratio", "TRT_WORKBENCH_MAX_COMPRESSION_RATIO", 200, "an archive member's compression ratio",
    unit="x",
)
ARRAY_BYTES = Limit("array_bytes", "TRT_WORKBENCH_MAX_ARRAY_BYTES", 8 * GiB, "input arrays", "--max-array-bytes")
IMAGE_PIXELS = Limit(
    "image_pixels", "TRT_WORKBENCH_MAX_IMAGE_PIXELS", 100_000_000, "one image", "--max-image-pixels", unit="pixels"
)
#: Elements of one tensor the workbench will allocate for a model (inputs, reference runs).
TENSOR_ELEMENTS = Limit(
    "tensor_elements", "TRT_WORKBENCH_MAX_TENSOR_ELEMENTS", 2**31, "one tensor", "--max-tensor-elements",
    unit="elements",
)
#: Memory a worker process may map (RLIMIT_AS), so a runaway allocation fails the task, not the app.
WORKER_MEMORY = Limit("worker_memory", "TRT_WORKBENCH_WORKER_MEMORY_BYTES", 20 * GiB, "a worker process")

LIMITS: tuple[Limit, ...] = (UNPACKED_BYTES, COMPRESSION_RATIO, ARRAY_BYTES, IMAGE_PIXELS, TENSOR_ELEMENTS, WORKER_MEMORY)


def apply_flags(values: dict[str, float | None]) -> None:
    """Make limits given as flags (``--max-array-bytes``) visible to this process and its workers."""
    for limit in LIMITS:
        value = values.get(limit.name)
        if value is None:
            continue
        if not value > 0:
            raise WorkbenchError(f"{limit.flag} must be a positive number, not {value}.")
        os.environ[limit.env] = repr(float(value))
