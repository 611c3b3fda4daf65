#!/usr/bin/env python3
"""Real labelled data for a real pretrained model: Google's Magika file-type classifier.

    python benchmarks/real_labelled.py            # make (or reuse) the splits, print where they are
    python benchmarks/real_labelled.py --check    # ... and compare our FP32 top-1 with magika's own
    python benchmarks/real_labelled.py --force    # rebuild the splits from the files on this machine

The model is ``magika/models/standard_v3_3/model.onnx`` from the PyPI wheel ``magika==1.0.3``
(``benchmarks/real_models.py``). The labelled data is files nobody here made: the files
already on this machine under the project's virtual environment and ``/usr`` (the Python
standard library, site-packages, shared data, headers, fonts, certificates...), each labelled
by its file-name extension through Magika's own knowledge base
(``magika/config/content_types_kb.min.json`` in the wheel): an extension counts only when
exactly one of the model's output labels (``target_labels_space`` of the model's config)
claims it, and only the :data:`CLASSES` below are used.

The model's input is built exactly as ``Magika._extract_features_from_seekable`` in the
wheel builds it (read there, sizes from the model's config): the first and the last
``block_size`` bytes, ASCII whitespace stripped at the start (``lstrip``) and at the end
(``rstrip``), the first ``beg_size`` and the last ``end_size`` of them, padded with
``padding_token`` (after the beginning, before the end), concatenated into one int32 row of
``beg_size + end_size``. Files for which Magika does not run the model at all (under
``min_file_size_for_dl`` bytes, or too few bytes left after stripping) are left out, and so
are files whose model input equals an earlier file's (sorted by path), so that no input is
in both splits.

Selection is deterministic: candidates per class sorted by path, de-duplicated, shuffled
with a fixed seed; the first :data:`EVAL_PER_CLASS` of each class form the evaluation split,
the next ones (interleaved class by class) the :data:`CALIB_SAMPLES` of the calibration
split. Written to ``.cache/real-labelled/magika/``: ``eval.npz`` and ``calib.npz`` (the
model's input ``bytes`` plus ``labels``, class indices into the model's output), and
``manifest.json`` (every file with its path, label, size and SHA-256, and the parameters).
The splits are reused while the parameters and the model are unchanged.

``--check`` is the independent computation: it installs the magika wheel itself into a
private temporary folder (``pip install --no-deps --no-index --target``, never into this
environment), runs the real ``magika`` Python package (its own feature extraction and ONNX
Runtime session) and the Rust ``magika`` command-line tool shipped in the same wheel (its own
feature extraction and its own ONNX Runtime build) on the evaluation files themselves, and
prints their top-1 against the labels beside the workbench's FP32 reference
(``workbench.evaluation.evaluate``), with every file on which a prediction differs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from onnx_node_tests import CACHE, ROOT, fetch_wheel
from real_models import REAL_MODELS

MODEL = REAL_MODELS["magika"]
OUT = CACHE / "real-labelled" / "magika"
CONFIG_MEMBER = "magika/models/standard_v3_3/config.min.json"
KB_MEMBER = "magika/config/content_types_kb.min.json"
INPUT_NAME = "bytes"
OUTPUT_NAME = "target_label"
#: The content types of the evaluation: Magika labels with plenty of real files here. Not "crt":
#: Magika's knowledge base gives .crt/.cer/.der to "crt", "Certificates (binary format)", but the
#: .crt files here (/usr/share/ca-certificates) are PEM text, which it calls "pem": the extension
#: would label every one of them wrongly (FORMAT 1 had them: FP32 said "pem" for all 64).
CLASSES = (
    "c", "cmake", "cpp", "css", "gzip", "html", "jar", "javascript", "json", "markdown", "onnx",
    "php", "png", "python", "pythonbytecode", "rst", "shell", "sql", "svg", "txt", "woff2", "xml", "yaml",
)
SEED = 13
EVAL_PER_CLASS = 64
CALIB_SAMPLES = 512
#: Folders whose files are the data (those that exist), walked in this order.
ROOTS = (ROOT / ".venv", Path("/usr"))
#: Bumped whenever the way the splits are made changes.
FORMAT = 2


@dataclass(frozen=True)
class Sample:
    path: str
    label: str
    size: int
    sha256: str


# ----------------------------------------------------------------------------- Magika's config and features


def wheel() -> Path:
    return fetch_wheel(MODEL.wheel)


def magika_config(wheel_path: Path | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model's config and Magika's content-type knowledge base, read from the wheel."""
    with zipfile.ZipFile(wheel_path or wheel()) as archive:
        return json.loads(archive.read(CONFIG_MEMBER)), json.loads(archive.read(KB_MEMBER))


def extension_labels(config: dict[str, Any], kb: dict[str, Any], classes: Iterable[str] = CLASSES) -> dict[str, str]:
    """Extension -> label, for extensions exactly one of the model's labels claims, kept to ``classes``."""
    space = set(config["target_labels_space"])
    claims: dict[str, set[str]] = {}
    for label, info in kb.items():
        if label in space:
            for ext in info.get("extensions", []):
                claims.setdefault(ext.lower(), set()).add(label)
    wanted = set(classes)
    unknown = wanted - space
    if unknown:
        raise SystemExit(f"not labels of the model: {sorted(unknown)}")
    return {ext: next(iter(labels)) for ext, labels in sorted(claims.items()) if len(labels) == 1 and labels <= wanted}


def features(path: Path, config: dict[str, Any]) -> np.ndarray | None:
    """The model's input row for one file, as ``Magika._extract_features_from_seekable`` makes it;
    None when Magika would not run the model on it (empty, tiny, or too little left after stripping)."""
    beg_size, end_size, block = int(config["beg_size"]), int(config["end_size"]), int(config["block_size"])
    pad, minimum = int(config["padding_token"]), int(config["min_file_size_for_dl"])
    assert int(config["mid_size"]) == 0 and not config["use_inputs_at_offsets"], "features v2 only"
    with open(path, "rb") as stream:
        size = os.fstat(stream.fileno()).st_size
        if size < minimum:
            return None
        n = min(block, size)
        stream.seek(0)
        beg = stream.read(n).lstrip()[:beg_size]
        stream.seek(size - n)
        end = stream.read(n).rstrip()
        end = end[len(end) - end_size :] if len(end) > end_size else end
    row = np.full(beg_size + end_size, pad, dtype=np.int32)
    row[: len(beg)] = np.frombuffer(beg, dtype=np.uint8)
    row[beg_size + end_size - len(end) :] = np.frombuffer(end, dtype=np.uint8)
    if row[minimum - 1] == pad:
        return None
    return row


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ----------------------------------------------------------------------------- making the splits


def candidates(ext_map: dict[str, str], roots: Iterable[Path] = ROOTS) -> dict[str, list[Path]]:
    """Per label, the regular files (no symlinks) under ``roots`` with one of its extensions, sorted by path."""
    found: dict[str, list[Path]] = {}
    for root in roots:
        if not root.is_dir():
            continue
        for folder, dirs, files in os.walk(root):
            dirs.sort()
            for name in files:
                if "." not in name:
                    continue
                label = ext_map.get(name.rsplit(".", 1)[1].lower())
                if label is None:
                    continue
                path = Path(folder) / name
                if path.is_symlink() or not path.is_file() or not os.access(path, os.R_OK):
                    continue
                found.setdefault(label, []).append(path)
    return {label: sorted(paths) for label, paths in sorted(found.items())}


def parameters(config: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "wheel": MODEL.wheel,
        "model": MODEL.member,
        "classes": list(CLASSES),
        "seed": SEED,
        "eval_per_class": EVAL_PER_CLASS,
        "calib_samples": CALIB_SAMPLES,
        "roots": [str(r) for r in ROOTS],
        "features": {k: config[k] for k in ("beg_size", "mid_size", "end_size", "block_size", "padding_token", "min_file_size_for_dl")},
    }


def make_splits(force: bool = False, out: Path = OUT, log: Any = None) -> dict[str, Any]:
    """Make (or reuse) the evaluation and calibration splits; return the manifest."""
    say = log or (lambda _m: None)
    config, kb = magika_config()
    params = parameters(config)
    manifest_path = out / "manifest.json"
    if not force and manifest_path.exists() and (out / "eval.npz").exists() and (out / "calib.npz").exists():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("parameters") == params:
            return manifest
    start = time.perf_counter()
    space = list(config["target_labels_space"])
    ext_map = extension_labels(config, kb)
    say(f"extensions used: {', '.join(f'.{e}->{label}' for e, label in ext_map.items())}")
    found = candidates(ext_map)
    seen: set[bytes] = set()
    rng = np.random.default_rng(SEED)
    per_class: dict[str, list[tuple[Path, np.ndarray]]] = {}
    left_out: dict[str, dict[str, int]] = {}
    needed = EVAL_PER_CLASS + -(-CALIB_SAMPLES // len(CLASSES))
    for label in CLASSES:
        paths = found.get(label, [])
        order = rng.permutation(len(paths))
        kept: list[tuple[Path, np.ndarray]] = []
        counts = {"files": len(paths), "no_model_run": 0, "duplicate_input": 0, "unreadable": 0}
        # Walk the shuffled order, keeping the first file of each distinct input; a duplicate
        # of an input seen in another class (or earlier in this one) is dropped everywhere.
        for i in order:
            if len(kept) >= needed:
                break
            try:
                row = features(paths[i], config)
            except OSError:
                counts["unreadable"] += 1
                continue
            if row is None:
                counts["no_model_run"] += 1
                continue
            key = row.tobytes()
            if key in seen:
                counts["duplicate_input"] += 1
                continue
            seen.add(key)
            kept.append((paths[i], row))
        if len(kept) < needed:
            raise SystemExit(f"only {len(kept)} usable files for {label!r} here, {needed} needed")
        per_class[label] = kept
        left_out[label] = counts
    evaluation = [(p, r, label) for label in CLASSES for p, r in per_class[label][:EVAL_PER_CLASS]]
    pools = [per_class[label][EVAL_PER_CLASS:] for label in CLASSES]
    calibration: list[tuple[Path, np.ndarray, str]] = []
    for k in range(max(len(p) for p in pools)):
        for label, pool in zip(CLASSES, pools):
            if k < len(pool) and len(calibration) < CALIB_SAMPLES:
                calibration.append((pool[k][0], pool[k][1], label))
    out.mkdir(parents=True, exist_ok=True)
    splits = {}
    for name, rows in (("eval", evaluation), ("calib", calibration)):
        labels = np.asarray([space.index(label) for _, _, label in rows], dtype=np.int64)
        tmp = out / f".{name}.npz.tmp"
        with open(tmp, "wb") as stream:
            np.savez(stream, bytes=np.stack([r for _, r, _ in rows]), labels=labels)  # "bytes": INPUT_NAME
        os.replace(tmp, out / f"{name}.npz")
        splits[name] = [
            Sample(str(p), label, p.stat().st_size, _sha256(p)).__dict__ for p, _, label in rows
        ]
    manifest = {
        "parameters": params,
        "labels_space": space,
        "extensions": ext_map,
        "counts": left_out,
        "seconds": round(time.perf_counter() - start, 2),
        "splits": splits,
    }
    tmp = out / ".manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, manifest_path)
    say(f"made {len(evaluation)} evaluation and {len(calibration)} calibration samples in {manifest['seconds']} s")
    return manifest


# ----------------------------------------------------------------------------- the independent computation


def changed_files(samples: list[dict[str, Any]]) -> list[str]:
    """Files of a split that no longer hold the bytes the split was made from."""
    changed = []
    for s in samples:
        p = Path(s["path"])
        if not p.is_file() or p.stat().st_size != s["size"] or _sha256(p) != s["sha256"]:
            changed.append(s["path"])
    return changed


_PYTHON_MAGIKA = r"""
import json, sys
from pathlib import Path
import magika
from magika import Magika
paths = [Path(p) for p in json.load(sys.stdin)]
m = Magika()
rows = []
for r in m.identify_paths(paths):
    rows.append({"path": str(r.path), "status": str(r.status),
                 "dl": str(r.prediction.dl.label) if r.ok else None,
                 "output": str(r.prediction.output.label) if r.ok else None,
                 "score": float(r.prediction.score) if r.ok else None})
json.dump({"module": magika.__file__, "model": m.get_model_name(), "results": rows}, sys.stdout)
"""


def run_magika(paths: list[str], wheel_path: Path | None = None, rust: bool = True) -> dict[str, Any]:
    """Magika's own predictions for ``paths``: the Python package (and, with ``rust``, the Rust CLI)
    from the wheel, installed into a private temporary folder (removed afterwards)."""
    wheel_path = wheel_path or wheel()
    with tempfile.TemporaryDirectory(prefix="magika-") as tmp:
        target = Path(tmp) / "site"
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--disable-pip-version-check",
             "--target", str(target), str(wheel_path)],
            check=True, capture_output=True, text=True,
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env["PYTHONPATH"] = str(target)
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", _PYTHON_MAGIKA], input=json.dumps(paths), env=env,
            check=True, capture_output=True, text=True,
        )
        python = json.loads(done.stdout)
        python["seconds"] = time.perf_counter() - start
        if not python["module"].startswith(str(target)):
            raise RuntimeError(f"magika was imported from {python['module']}, not from the private folder")
        cli_result: dict[str, Any] | None = None
        cli = target / "bin" / "magika"
        if rust and cli.is_file():
            start = time.perf_counter()
            done = subprocess.run([str(cli), "--version"], check=True, capture_output=True, text=True)
            version = done.stdout.strip()
            done = subprocess.run([str(cli), "--json", "--no-colors", *paths], check=True, capture_output=True, text=True)
            rows = []
            for item in json.loads(done.stdout):
                value = item["result"].get("value") or {}
                rows.append({"path": item["path"], "status": item["result"]["status"],
                             "dl": (value.get("dl") or {}).get("label"), "output": (value.get("output") or {}).get("label"),
                             "score": value.get("score")})
            cli_result = {"version": version, "results": rows, "seconds": time.perf_counter() - start}
    return {"python": python, "rust": cli_result}


def top1(predicted: list[str | None], truth: list[str]) -> float:
    return float(np.mean([p == t for p, t in zip(predicted, truth)]))


def check(manifest: dict[str, Any], out: Path = OUT) -> dict[str, Any]:
    """Our FP32 reference (workbench.evaluation) and magika's own top-1 on the evaluation files."""
    from workbench.evaluation import evaluate, load_labelled, predict, top_k
    from workbench.model import load_model
    from workbench.summary import summarize
    from workbench.workspace import Workspace

    samples = manifest["splits"]["eval"]
    changed = changed_files(samples)
    if changed:
        raise SystemExit(
            f"{len(changed)} evaluation file(s) changed since the split was made (first: {changed[0]}): run with --force"
        )
    space = manifest["labels_space"]
    paths = [s["path"] for s in samples]
    truth = [s["label"] for s in samples]
    model = load_model(MODEL.path())
    data = load_labelled(out / "eval.npz", summarize(model).inputs)
    with tempfile.TemporaryDirectory(prefix="real-labelled-ws-") as ws:
        evaluation = evaluate(model, data, ["fp32"], workspace=Workspace(Path(ws)))
    scores = predict(str(model.path), data.arrays, OUTPUT_NAME)
    ours = [space[i] for i in top_k(scores, 1)[:, 0]]
    magika = run_magika(paths)
    report: dict[str, Any] = {
        "n": len(paths),
        "classes": len(set(truth)),
        "ours": {"top1": evaluation.reference.top1, "top5": evaluation.reference.top5,
                 "computed_by": evaluation.reference.computed_by, "argmax_top1": top1(ours, truth)},
    }
    for name in ("python", "rust"):
        result = magika[name]
        if result is None:
            report[name] = None
            continue
        predicted = [r["dl"] for r in result["results"]]
        differ = [
            {"path": p, "label": t, "ours": o, "magika": m, "our_score": float(scores[i].max()),
             "magika_score": result["results"][i]["score"]}
            for i, (p, t, o, m) in enumerate(zip(paths, truth, ours, predicted)) if o != m
        ]
        statuses = sorted({r["status"] for r in result["results"]})
        score_diff = [abs(float(scores[i].max()) - r["score"]) for i, r in enumerate(result["results"]) if r["score"] is not None]
        report[name] = {
            "top1": top1(predicted, truth),
            "statuses": statuses,
            "differ": differ,
            "max_score_difference": max(score_diff) if score_diff else None,
            "seconds": round(result["seconds"], 2),
            **({"version": result["version"]} if "version" in result else {"model": result.get("model")}),
        }
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="rebuild the splits from the files on this machine")
    parser.add_argument("--check", action="store_true", help="compare our FP32 top-1 with magika's own on the evaluation files")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    log = (lambda m: print(m, file=sys.stderr)) if not args.json else None
    manifest = make_splits(force=args.force, log=log)
    splits = {name: len(rows) for name, rows in manifest["splits"].items()}
    if not args.json:
        print(f"model: {MODEL.path()}")
        print(f"evaluation: {OUT / 'eval.npz'} ({splits['eval']} files, {len(CLASSES)} classes)")
        print(f"calibration: {OUT / 'calib.npz'} ({splits['calib']} files)")
    if not args.check:
        if args.json:
            print(json.dumps({"eval": str(OUT / "eval.npz"), "calib": str(OUT / "calib.npz"), "samples": splits}))
        return 0
    report = check(manifest)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        ours = report["ours"]
        print(f"FP32 top-1, workbench ({ours['computed_by']}): {ours['top1']:.4f} on {report['n']} files")
        for name, title in (("python", "magika Python package"), ("rust", "magika Rust CLI")):
            r = report[name]
            if r is None:
                print(f"{title}: not in the wheel")
                continue
            what = r.get("version") or r.get("model")
            print(
                f"FP32 top-1, {title} ({what}): {r['top1']:.4f}; predictions differing from ours: {len(r['differ'])}; "
                f"largest top-score difference {r['max_score_difference']:.2e}"
            )
            for d in r["differ"]:
                print(f"  {d['path']}: label {d['label']}, ours {d['ours']} ({d['our_score']:.4f}), magika {d['magika']} ({d['magika_score']})")
    same = report["python"] is not None and report["python"]["top1"] == report["ours"]["top1"]
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
