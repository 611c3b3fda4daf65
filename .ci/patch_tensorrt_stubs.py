#!/usr/bin/env python3
"""Repair the published tensorrt-stubs (10.13) so mypy can read them.

The generated .pyi files have a few lines that are not valid Python: parameters named
``in`` (a keyword) and non-default parameters after defaulted ones. Only those lines are
rewritten (``in`` -> ``in_``; a missing default -> ``= ...``); the API is unchanged.

    python .ci/patch_tensorrt_stubs.py .typings
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

KEYWORD_PARAM = re.compile(r"([(,]\s*)in(\s*:)")


def fix_def_line(line: str) -> str:
    line = KEYWORD_PARAM.sub(r"\1in_\2", line)
    match = re.match(r"(\s*def \w+\()(.*)(\)\s*->.*)$", line)
    if not match:
        return line
    head, params, tail = match.groups()
    parts = [p.strip() for p in params.split(", ")]
    seen_default = False
    for i, part in enumerate(parts):
        if "=" in part:
            seen_default = True
        elif seen_default and part and not part.startswith("*"):
            parts[i] = f"{part} = ..."
    return head + ", ".join(parts) + tail


def patch(path: Path) -> int:
    lines = path.read_text().splitlines(keepends=True)
    changed = 0
    for _ in range(200):
        try:
            ast.parse("".join(lines))
            break
        except SyntaxError as exc:
            index = (exc.lineno or 1) - 1
            fixed = fix_def_line(lines[index].rstrip("\n")) + "\n"
            if fixed == lines[index]:
                raise SystemExit(f"{path}:{exc.lineno}: cannot repair: {exc.msg}") from exc
            lines[index] = fixed
            changed += 1
    path.write_text("".join(lines))
    return changed


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else ".typings")
    total = sum(patch(p) for p in sorted(root.rglob("*.pyi")))
    print(f"patched {total} line(s) in the TensorRT stubs under {root}")


if __name__ == "__main__":
    main()
