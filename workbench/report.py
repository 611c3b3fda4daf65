"""A workspace as one self-contained HTML report plus a JSON bundle, with the commands that
reproduce every step on a GPU machine (and ``trt-workbench evaluate`` / ``calib-study`` lines
for the task accuracy on labelled data).

The HTML embeds plotly's JavaScript once, so it opens offline. The commands are the
fix script, ModelOpt's own CLI for each precision transform, ``polygraphy convert`` /
``polygraphy run`` lines, and ``trtexec`` lines for TensorRT 10 (precision flags) and
TensorRT 11 (strongly typed, after the ModelOpt command); each is checked against its
tool's own argument parser where that parser is importable (Polygraphy, ModelOpt).
"""

from __future__ import annotations

import html
import importlib.metadata
import json
import re
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.build import BuildResult
from workbench.build_options import polygraphy_arguments, trtexec_arguments
from workbench.compare import Comparison, KeepPrecisionResult
from workbench.compat import CompatReport, report_section
from workbench.diagnose import Diagnosis
from workbench.engine_report import EngineComparison, EngineReport
from workbench.env import EnvironmentReport, collect_environment
from workbench.errors import WorkbenchError
from workbench.evaluation import CalibrationStudy, Evaluation
from workbench.fixing import FixSession, fix_script
from workbench.precision import PRECISION_INFO
from workbench.serialize import JsonRecord
from workbench.summary import ModelSummary
from workbench.timing import Profile
from workbench.workspace import Workspace

#: NVIDIA's TensorRT container the Dockerfile starts from (override with --build-arg).
TENSORRT_CONTAINER = "nvcr.io/nvidia/tensorrt:25.10-py3"


@dataclass
class Command(JsonRecord):
    tool: str  # "polygraphy" | "trtexec" | "modelopt" | "python" | "trt-workbench"
    purpose: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        prefix = " ".join(f"{k}={v}" for k, v in self.env.items())
        return (prefix + " " if prefix else "") + shlex.join(self.argv)


@dataclass
class StudyEntry(JsonRecord):
    """A calibration study and the model it was run on (the workspace index's label)."""

    model: str
    study: CalibrationStudy


@dataclass
class ReportBundle(JsonRecord):
    created: str
    workspace: str
    environment: EnvironmentReport
    models: list[ModelSummary]
    diagnoses: list[Diagnosis]
    fix_sessions: list[FixSession]
    builds: list[BuildResult]
    comparisons: list[Comparison]
    keep_precision: list[KeepPrecisionResult]
    profiles: list[Profile]
    commands: list[Command]
    requirements: str
    dockerfile: str
    #: Engines imported from trtexec exports (workspace kind ``engine_reports``) and their
    #: comparisons (``engine_comparisons``): the Engines page and ``engine show/compare -o``.
    engine_reports: list[EngineReport] = field(default_factory=list)
    engine_comparisons: list[EngineComparison] = field(default_factory=list)
    #: Task accuracy on labelled data (workspace kind ``evaluation``: ``evaluate -o``, the
    #: Accuracy page) and calibration studies (``calibration_study``: ``calib-study -o``).
    evaluations: list[Evaluation] = field(default_factory=list)
    calibration_studies: list[StudyEntry] = field(default_factory=list)
    #: Version checks (workspace kind ``compat_reports``: ``compat -o``, the Compatibility page).
    compat_reports: list[CompatReport] = field(default_factory=list)


# ----------------------------------------------------------------------------- collecting


def _load_all(workspace: Workspace, kind: str, cls: Any) -> list[Any]:
    items = []
    for path in workspace.results(kind):
        try:
            items.append(cls.load(path))
        except (ValueError, KeyError, TypeError):
            continue  # a result from an incompatible older version: skip, do not fail the report
    return items


def _latest(items: list[Any], key: Any) -> list[Any]:
    """One item per key, the newest (results come oldest first), in first-seen order."""
    out: dict[Any, Any] = {}
    for item in items:
        out[key(item)] = item
    return list(out.values())


def _evaluation_key(e: Evaluation) -> tuple[Any, ...]:
    """What makes two evaluations the same run (saved again, or again with a note added)."""
    return (
        e.model_hash or e.model,
        e.data_source,
        tuple((r.precision, r.calibrator, r.calibration_samples) for r in e.results),
    )


def _studies(workspace: Workspace) -> list[StudyEntry]:
    entries = []
    for entry in workspace.index().get("calibration_study", []):
        path = Path(str(entry.get("path", "")))
        if not path.is_file():
            continue
        try:
            study = CalibrationStudy.load(path)
        except (ValueError, KeyError, TypeError):
            continue
        entries.append(StudyEntry(model=str(entry.get("label") or "MODEL.onnx"), study=study))
    return _latest(
        entries,
        lambda e: (
            e.model, e.study.precision, tuple(e.study.counts), tuple(e.study.calibrators),
            tuple(sorted(e.study.keep.items())), e.study.pool_samples, e.study.evaluation_samples, e.study.seed,
        ),
    )


def collect(workspace: Workspace) -> ReportBundle:
    """Everything the workspace holds, as one bundle."""
    if not workspace.root.is_dir():
        raise WorkbenchError(f"{workspace.root} is not a workspace folder.")
    builds = []
    for entry in workspace.index().get("builds", []):
        path = workspace.root / "engines" / str(entry.get("cache_key", ""))[:16] / "result.json"
        if path.is_file():
            builds.append(BuildResult.load(path))
    diagnoses = _load_all(workspace, "diagnoses", Diagnosis)
    fix_sessions = _load_all(workspace, "fix_sessions", FixSession)
    comparisons = _load_all(workspace, "comparisons", Comparison)
    keep = _load_all(workspace, "keep_precision", KeepPrecisionResult)
    profiles = _load_all(workspace, "profiles", Profile)
    # The same engine or the same set of engines saved again (a reload, a re-run): keep the newest.
    engine_reports = _latest(
        _load_all(workspace, "engine_reports", EngineReport), lambda r: (r.label, tuple(sorted(r.files.items())))
    )
    engine_comparisons = _latest(
        _load_all(workspace, "engine_comparisons", EngineComparison), lambda c: tuple(c.labels)
    )
    evaluations = _latest(_load_all(workspace, "evaluation", Evaluation), _evaluation_key)
    studies = _studies(workspace)
    # The same check run again (a rerun, a reload): keep the newest per model, backend and versions.
    compat_reports = _latest(
        _load_all(workspace, "compat_reports", CompatReport),
        lambda r: (r.model, r.backend, r.build_check, tuple(v.requested for v in r.versions)),
    )
    if not any(
        [builds, diagnoses, fix_sessions, comparisons, keep, profiles, engine_reports, evaluations, studies, compat_reports]
    ):
        raise WorkbenchError(
            f"{workspace.root} holds no results yet: run build, compare, diagnose, profile, evaluate, calib-study, "
            f"compat or engine show/compare with -o {workspace.root} first."
        )
    model_paths = (
        {b.model for b in builds}
        | {d.model for d in diagnoses}
        | {c.reference.get("model", "") for c in comparisons}
        | {s.original_path for s in fix_sessions}
        | {e.model for e in evaluations}
    )
    models = []
    for model_path in sorted(p for p in model_paths if p and Path(p).is_file()):
        from workbench.model import load_model
        from workbench.summary import summarize

        try:
            models.append(summarize(load_model(model_path)))
        except WorkbenchError:
            continue
    bundle = ReportBundle(
        created=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        workspace=str(workspace.root),
        environment=collect_environment(),
        models=models,
        diagnoses=diagnoses,
        fix_sessions=fix_sessions,
        builds=builds,
        comparisons=comparisons,
        keep_precision=keep,
        profiles=profiles,
        commands=[],
        requirements=requirements_lock(),
        dockerfile="",
        engine_reports=engine_reports,
        engine_comparisons=engine_comparisons,
        evaluations=evaluations,
        calibration_studies=studies,
        compat_reports=compat_reports,
    )
    bundle.commands = reproduction_commands(bundle)
    bundle.dockerfile = dockerfile(bundle)
    return bundle


# ----------------------------------------------------------------------------- commands


def _shape_args(profile: dict[str, list[list[int]]], style: str) -> list[str]:
    def dims(shape: list[int]) -> str:
        return "x".join(str(d) for d in shape)

    if not profile:
        return []
    if style == "trtexec":
        return [
            "--minShapes=" + ",".join(f"{k}:{dims(v[0])}" for k, v in profile.items()),
            "--optShapes=" + ",".join(f"{k}:{dims(v[1])}" for k, v in profile.items()),
            "--maxShapes=" + ",".join(f"{k}:{dims(v[2])}" for k, v in profile.items()),
        ]
    args: list[str] = []
    for flag, i in (("--trt-min-shapes", 0), ("--trt-opt-shapes", 1), ("--trt-max-shapes", 2)):
        args.append(flag)
        args += [f"{k}:[{','.join(str(d) for d in v[i])}]" for k, v in profile.items()]
    return args


def _modelopt_command(build: BuildResult, transformed: str) -> Command | None:
    transform = build.transform
    if transform is None:
        return None
    exclude = ["--nodes_to_exclude", *transform.nodes_excluded] if transform.nodes_excluded else []
    if transform.method == "autocast":
        argv = [
            "python",
            "-m",
            "modelopt.onnx.autocast",
            "--onnx_path",
            Path(build.model).name,
            "--low_precision_type",
            build.precision,
            "--keep_io_types",
            "--output_path",
            transformed,
            *exclude,
        ]
    else:
        argv = [
            "python",
            "-m",
            "modelopt.onnx.quantization",
            "--onnx_path",
            Path(build.model).name,
            "--quantize_mode",
            build.precision,
            "--calibration_data_path",
            "calibration.npz",
            "--calibration_method",
            transform.calibrator or "max",
            "--calibration_eps",
            "cpu",
            "--high_precision_dtype",
            "fp32",
            "--output_path",
            transformed,
            *exclude,
        ]
    return Command(
        "modelopt",
        f"{build.precision.upper()} transform with ModelOpt (for TensorRT 11 and TensorRT-RTX)",
        argv,
    )


def reproduction_commands(bundle: ReportBundle) -> list[Command]:
    commands: list[Command] = []
    for session in bundle.fix_sessions:
        if session.steps:
            name = Path(session.original_path).name
            commands.append(
                Command(
                    "python",
                    f"re-apply the fixes to {name} (the script is in the JSON bundle)",
                    ["python", "fix.py", name, Path(name).stem + ".fixed.onnx"],
                )
            )
    seen_models: set[str] = set()
    for build in bundle.builds:
        if not build.ok:
            continue
        stem = Path(build.model).stem
        source = Path(build.model).name  # commands run where the report's files are copied
        engine = f"{stem}.{build.precision}.engine"
        profile = build.shapes[0] if build.shapes else {}
        transformed = f"{stem}.{build.precision}.onnx"
        modelopt = _modelopt_command(build, transformed)
        if modelopt is not None:
            commands.append(modelopt)
        strongly_typed_input = transformed if modelopt is not None else source
        # TensorRT 11: strongly typed, precision already in the graph.
        commands.append(
            Command(
                "trtexec",
                f"{build.precision.upper()} engine with TensorRT 11 (strongly typed)",
                [
                    "trtexec",
                    f"--onnx={strongly_typed_input}",
                    "--stronglyTyped",
                    f"--saveEngine={engine}",
                    *_shape_args(profile, "trtexec"),
                    *trtexec_arguments(build.config),
                ],
            )
        )
        # TensorRT 10: the original graph with precision flags.
        row = PRECISION_INFO.get(build.precision)
        flags = list(row.trtexec_flags) if row else []
        if build.config.keep_precision and row is not None and row.keeps_nodes_high:
            flags = [
                *flags,
                "--precisionConstraints=obey",
                "--layerPrecisions=" + ",".join(f"{n}:fp32" for n in build.config.keep_precision),
            ]
        commands.append(
            Command(
                "trtexec",
                f"{build.precision.upper()} engine with TensorRT 10 (builder flags)",
                [
                    "trtexec",
                    f"--onnx={source if not (row and row.transform_on_trt10) else transformed}",
                    *flags,
                    f"--saveEngine={engine}",
                    *_shape_args(profile, "trtexec"),
                    *trtexec_arguments(build.config),
                ],
            )
        )
        # TensorRT-RTX through Polygraphy, ahead of time for the same compute capability.
        cc = (
            build.target[2:-1] + "." + build.target[-1]
            if build.target and build.target.startswith("sm")
            else None
        )
        rtx = [
            "polygraphy",
            "convert",
            strongly_typed_input,
            "-o",
            engine,
            *_shape_args(profile, "polygraphy"),
            *polygraphy_arguments(build.config),
        ]
        if cc:
            rtx += ["--compute-capabilities", cc]
        commands.append(
            Command(
                "polygraphy",
                f"{build.precision.upper()} engine with TensorRT-RTX for {build.target or 'this GPU'}",
                rtx,
                {"POLYGRAPHY_USE_TENSORRT_RTX": "1"},
            )
        )
        # Polygraphy runs at the profile's opt shape.
        shape = (
            ["--input-shapes", *[f"{k}:[{','.join(str(d) for d in v[1])}]" for k, v in profile.items()]]
            if profile
            else []
        )
        if build.model not in seen_models:
            seen_models.add(build.model)
            commands.append(
                Command(
                    "polygraphy",
                    f"FP32 reference outputs of {Path(build.model).name}, every tensor (ONNX Runtime)",
                    [
                        "polygraphy",
                        "run",
                        source,
                        "--onnxrt",
                        "--onnx-outputs",
                        "mark",
                        "all",
                        *shape,
                        "--save-outputs",
                        "reference.json",
                    ],
                )
            )
        if modelopt is not None:
            commands.append(
                Command(
                    "polygraphy",
                    f"{build.precision.upper()} drift against the FP32 reference, every tensor",
                    [
                        "polygraphy",
                        "run",
                        transformed,
                        "--onnxrt",
                        "--onnx-outputs",
                        "mark",
                        "all",
                        *shape,
                        "--load-outputs",
                        "reference.json",
                        "--check-error-stat",
                        "max",
                    ],
                )
            )
    commands.extend(engine_commands(bundle.engine_reports, bundle.engine_comparisons))
    commands.extend(labelled_commands(bundle.evaluations, bundle.calibration_studies))
    for compat in bundle.compat_reports:
        commands.append(
            Command("trt-workbench", "which TensorRT-RTX versions take the model", shlex.split(report_section(compat).command))
        )
    return commands


#: The data file of a command when the record names none a shell can take as it is.
LABELLED_DATA = "labelled.npz"
#: The calibration data of the labelled-accuracy commands (as the build commands name it).
CALIBRATION_DATA = "calibration.npz"
#: The preprocessing written beside the report when an evaluation declared one.
PREPROCESSING_FILE = "preprocessing.json"


def _model_argument(path: str) -> str:
    """``sample:NAME`` for a bundled sample (it works from any folder), else the file name
    (the commands run where the report's files are copied)."""
    from workbench.samples import list_samples, samples_dir

    name = Path(path).name
    try:
        inside = Path(path).resolve().parent == samples_dir().resolve()
    except OSError:
        inside = False
    if inside and any(Path(s.file).name == name for s in list_samples()):
        return "sample:" + name.removesuffix(".onnx")
    return name


def _data_argument(source: str) -> str:
    """The labelled data's file name when the record's source is one, else ``labelled.npz``."""
    return source if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", source or "") else LABELLED_DATA


def preprocessing_files(evaluations: list[Evaluation]) -> dict[int, tuple[str, dict[str, Any]]]:
    """Per evaluation (by position) that declared a preprocessing: the JSON file written beside
    the report for its command, one file per distinct preprocessing."""
    names: dict[str, str] = {}
    files: dict[int, tuple[str, dict[str, Any]]] = {}
    for i, e in enumerate(evaluations):
        if e.preprocessing is None:
            continue
        text = json.dumps(e.preprocessing, sort_keys=True)
        if text not in names:
            names[text] = PREPROCESSING_FILE if not names else f"preprocessing_{len(names)}.json"
        files[i] = (names[text], e.preprocessing)
    return files


def _synthetic(notes: list[str]) -> bool:
    return any("SYNTHETIC" in n for n in notes)


def labelled_commands(evaluations: list[Evaluation], studies: list[StudyEntry]) -> list[Command]:
    """``trt-workbench evaluate`` and ``calib-study`` lines that measure the section's figures
    again (any machine; the CPU executors here, TensorRT's own numbers on a GPU)."""
    commands: list[Command] = []
    # A study records neither its model's path nor its data's name: an evaluation of the same
    # model (by the workspace label) gives them, else the bare name and labelled.npz.
    known: dict[str, tuple[str, str]] = {}
    declared = preprocessing_files(evaluations)
    for i, e in enumerate(evaluations):
        model = _model_argument(e.model)
        data = _data_argument(e.data_source)
        known.setdefault(Path(e.model).name, (model, data))
        argv = ["trt-workbench", "evaluate", model, data, "--precision", ",".join(r.precision for r in e.results)]
        calibrated = [r for r in e.results if r.calibration_samples]
        note = ""
        if calibrated:
            calib = _data_argument(e.calibration_source) if e.calibration_source and not e.calibration_synthetic else CALIBRATION_DATA
            argv += ["--calib", calib, "--calibrator", calibrated[0].calibrator or "entropy"]
            note = f"; {calib}: the {calibrated[0].calibration_samples} calibration samples"
            if e.calibration_synthetic or _synthetic(e.notes):
                note += " (the app calibrated on SYNTHETIC data: give real data here)"
        if i in declared:
            argv += ["--preprocessing", declared[i][0]]
        commands.append(
            Command(
                "trt-workbench",
                f"task accuracy of {Path(e.model).name} on {data} ({e.reference.n} labelled samples){note}",
                argv,
            )
        )
    for entry in studies:
        study = entry.study
        # Studies record their model and data since they carry the fields; older ones do not.
        if study.model:
            model, data = _model_argument(study.model), _data_argument(study.data_source)
        else:
            model, data = known.get(Path(entry.model).name, (Path(entry.model).name, LABELLED_DATA))
        pool = _data_argument(study.pool_source) if study.pool_source and not study.pool_synthetic else CALIBRATION_DATA
        argv = [
            "trt-workbench", "calib-study", model, data,
            "--calib", pool,
            "--counts", ",".join(str(c) for c in study.counts),
            "--calibrators", ",".join(study.calibrators),
            "--precision", study.precision,
            "--seed", str(study.seed),
        ]
        for metric, value in study.keep.items():
            argv += ["--keep", f"{metric}={value:g}"]
        synthetic = (
            " (the app studied a SYNTHETIC pool: give real data here)"
            if study.pool_synthetic or _synthetic(study.notes) else ""
        )
        commands.append(
            Command(
                "trt-workbench",
                f"{study.precision.upper()} accuracy of {entry.model} against calibration sample count; "
                f"{pool}: the pool of {study.pool_samples} samples{synthetic}",
                argv,
            )
        )
    return commands


def _engine_stem(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", label).strip("._") or "engine"


def _engine_flags(report: EngineReport) -> list[str]:
    """The trtexec flags the exports record: precisions from the build options, the shape
    and the timing conditions (CUDA graph, data transfers, spin-wait) from the inference options."""
    flags: list[str] = []
    build = report.build_options
    text = " ".join(str(v) for k, v in build.items() if "precision" in k.lower()).upper()
    words = set(re.findall(r"[A-Z0-9]+", text))
    typed = any("strongly" in k.lower() and str(v).lower() in ("1", "true", "enabled", "yes") for k, v in build.items())
    if typed:
        flags.append("--stronglyTyped")
    elif "BEST" in words:
        flags.append("--best")
    else:
        flags += [f"--{p.lower()}" for p in ("FP16", "BF16", "INT8", "FP8") if p in words]
    options = {k.lower(): str(v) for k, v in report.inference_options.items()}
    shape = options.get("input inference shape", "")
    specs = [part.strip().replace("=", ":") for part in shape.split(",") if "=" in part]
    if specs and all(re.fullmatch(r"[^:,]+:\d+(x\d+)*", spec) for spec in specs):
        flags.append("--shapes=" + ",".join(specs))
    for option, value, flag in (
        ("cuda graph", "enabled", "--useCudaGraph"),
        ("data transfers", "disabled", "--noDataTransfers"),
        ("spin-wait", "enabled", "--useSpinWait"),
    ):
        if options.get(option, "").lower() == value:
            flags.append(flag)
    return flags


def engine_commands(reports: list[EngineReport], comparisons: list[EngineComparison]) -> list[Command]:
    """How each imported engine's exports are made on the GPU machine (trtexec), and how the
    workbench reads them there or anywhere (``trt-workbench engine show/compare``)."""
    commands: list[Command] = []
    for report in reports:
        x = _engine_stem(report.label) + ".engine"
        model = Path(report.model).name if report.model else "MODEL.onnx"
        flags = _engine_flags(report)
        where = f" on {report.device.name}" if report.device.name else ""
        commands.append(
            Command(
                "trtexec",
                f"build {report.label}, time it layer by layer and export what the Engines page reads "
                f"(on the GPU machine{where}; precision flags "
                + ("from the build metadata)" if report.build_options else "not recorded: add them)"),
                [
                    "trtexec",
                    f"--onnx={model}",
                    f"--saveEngine={x}",
                    f"--exportLayerInfo={x}.graph.json",
                    "--profilingVerbosity=detailed",
                    f"--exportProfile={x}.profile.json",
                    f"--exportTimes={x}.timing.json",
                    "--separateProfileRun",
                    *flags,
                ],
            )
        )
    compared: set[str] = set()
    for comparison in comparisons:
        compared.update(comparison.labels)
        commands.append(
            Command(
                "trt-workbench",
                f"compare {' vs '.join(comparison.labels)} layer by layer (any machine)",
                ["trt-workbench", "engine", "compare",
                 *[f"{_engine_stem(label)}.engine.graph.json" for label in comparison.labels]],
            )
        )
    for report in reports:
        if report.label not in compared:
            commands.append(
                Command(
                    "trt-workbench",
                    f"show {report.label} layer by layer (any machine)",
                    ["trt-workbench", "engine", "show", f"{_engine_stem(report.label)}.engine.graph.json"],
                )
            )
    return commands


# ----------------------------------------------------------------------------- lock file and Dockerfile


def requirements_lock() -> str:
    """The environment that produced the report, pinned (``name==version``, sorted)."""
    pins = sorted(
        {
            f"{d.metadata['Name']}=={d.version}"
            for d in importlib.metadata.distributions()
            if d.metadata["Name"]
        },
        key=str.lower,
    )
    return "# The environment that produced this report.\n" + "\n".join(pins) + "\n"


def dockerfile(bundle: ReportBundle) -> str:
    """A Dockerfile on NVIDIA's TensorRT container that reruns the builds on a GPU machine."""
    pins = [
        line
        for line in bundle.requirements.splitlines()
        if line.split("==")[0].lower()
        in {"onnx", "onnxruntime", "polygraphy", "onnx-graphsurgeon", "nvidia-modelopt", "numpy", "onnxslim"}
    ]
    steps = [
        c
        for c in bundle.commands
        if c.tool in ("modelopt", "trtexec", "python")
        and "TensorRT 10" not in c.purpose
        # Timing an engine needs the GPU at run time, and the model from the GPU machine.
        and not any(a.startswith("--exportProfile=") for a in c.argv)
    ]
    return "\n".join(
        [
            "# Reproduces the report's builds on a machine with an NVIDIA GPU:",
            "#   docker build -t trt-workbench-repro . && docker run --gpus all trt-workbench-repro",
            f"ARG BASE={TENSORRT_CONTAINER}",
            "FROM ${BASE}",
            "WORKDIR /work",
            "# Copy the models, calibration.npz and fix.py from the report bundle next to this file.",
            "COPY . /work",
            f"RUN python -m pip install --no-cache-dir {' '.join(pins)}",
            *[f"RUN {c.text}" for c in steps],
            "",
        ]
    )


# ----------------------------------------------------------------------------- HTML


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p class=muted>none</p>"
    keys = list(rows[0])
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in keys)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(k)))}</td>" for k in keys) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if value is None:
        return ""
    return str(value)


def engine_summary_rows(reports: list[EngineReport]) -> list[dict[str, Any]]:
    """The per-engine table of the Engines section (the numbers of ``engine show``)."""
    rows = []
    for r in reports:
        lat = r.latency_ms
        rows.append(
            {
                "engine": r.label,
                "measured by": r.backend,
                "batch": r.batch,
                "layers": len(r.layers),
                "layer ms (sum)": r.total_ms,
                "median ms": lat.median if lat else None,
                "p99 ms": lat.p99 if lat else None,
                "inferences/s": r.throughput,
                "reformat ms": r.reformat_ms,
                "Q/DQ ms": r.qdq_ms,
                "built for": str(r.build_options.get("Precision", "")) or r.requested_precision,
                "precision mix": ", ".join(f"{k} {v}" for k, v in r.precision_counts.items()),
                "warnings": " | ".join(r.warnings),
            }
        )
    return rows


def _engines_html(bundle: ReportBundle, fig: Any) -> str:
    from workbench.engine_report import summary_json
    from workbench.plots import (
        engine_compare_figure,
        engine_latency_figure,
        engine_layer_time_figure,
        engine_precision_mix_figure,
        engine_type_time_figure,
    )

    reports = bundle.engine_reports
    parts = ["<h2 id=engines>Engines</h2>"]
    if reports:
        sources = sorted({r.backend for r in reports})
        parts.append(f"<p class=muted>Measured by {html.escape('; '.join(sources))}.</p>")
        parts.append(_table(engine_summary_rows(reports)))
        parts.append(f"<p class=muted>{html.escape(str(summary_json(reports[0])['latency_note']))}</p>")
        parts.append(fig(engine_precision_mix_figure(reports)))
        if any(r.latency_ms is not None for r in reports):
            parts.append(fig(engine_latency_figure(reports)))
    for c in bundle.engine_comparisons:
        parts.append(f"<h3>{html.escape(' vs '.join(c.labels))}</h3>")
        parts.append(fig(engine_compare_figure(c)))
        parts.append(fig(engine_type_time_figure(c)))
        slower = set(c.slower_than_reference)
        shown = [row for row in c.rows if row.key in slower][:15] or c.rows[:15]
        title = (
            f"Rows where a quantized engine is slower than {c.reference} ({len(slower)}), largest excess first"
            if slower
            else f"First {len(shown)} of {len(c.rows)} matched rows"
        )
        rows = []
        for row in shown:
            entry: dict[str, Any] = {"row": row.key, "kind": row.kind}
            for label, cell in zip(c.labels, row.per_engine):
                entry[f"{label} ms"] = cell.avg_ms if cell is not None else None
                entry[f"{label} precision"] = cell.precision if cell is not None else ""
            entry["note"] = row.note
            rows.append(entry)
        parts.append(f"<p>{html.escape(title)}:</p>" + _table(rows))
        if c.fused_differently:
            parts.append(
                "<p>Fused differently:</p>"
                + _table(
                    [
                        {"ONNX nodes": " + ".join(f.nodes),
                         **{label: " | ".join(ls) for label, ls in zip(c.labels, f.layers_per_engine)}}
                        for f in c.fused_differently
                    ]
                )
            )
        for note in c.notes:
            parts.append(f"<p class=muted>{html.escape(note)}</p>")
    for r in reports:
        parts.append(
            f"<details><summary>{html.escape(r.label)}: {len(r.layers)} engine layers</summary>"
            + fig(engine_layer_time_figure(r))
            + _table(
                [
                    {
                        "layer": layer.name,
                        "type": layer.type_label,
                        "precision": layer.precision,
                        "avg ms": layer.avg_ms,
                        "%": layer.percent,
                        "tactic": layer.tactic,
                        "onnx nodes": ", ".join(layer.onnx_nodes),
                    }
                    for layer in r.layers
                ]
            )
            + "</details>"
        )
    return "".join(parts)


def _effect_text(f: Any) -> str:
    e = f.effect
    if e is None or e.with_flagged is None or e.without_flagged is None:
        return ""
    return (
        f"{e.precision.upper()} {e.calibrator}: kept_top1 {e.with_flagged:.4f} with them, {e.without_flagged:.4f} "
        f"without ({(e.delta or 0.0):+.4f}; {e.computed_by}); {e.how}"
    )


def _findings_table(findings: list[Any]) -> str:
    return _table(
        [{"kind": f.kind, "severity": f.severity, "message": f.message, "measured effect": _effect_text(f)} for f in findings]
    )


def _labelled_html(bundle: ReportBundle, fig: Any) -> str:
    from workbench.plots import calibration_study_figure, evaluation_figure, labelled_rows, study_point_rows

    parts = ["<h2 id=labelled>Accuracy on labelled data</h2>"]
    for e in bundle.evaluations:
        ref = e.reference
        parts.append(
            f"<h3>{html.escape(Path(e.model).name)} on {html.escape(e.data_source)}: {ref.n} labelled samples, "
            f"{e.classes} classes</h3>"
        )
        parts.append(
            f"<p class=muted>FP32 reference top-1 {ref.top1:.4f}, top-5 {ref.top5:.4f}, computed by "
            f"{html.escape(ref.computed_by)} on the {html.escape(ref.device)}. kept_top1 is a precision's top-1 "
            "over FP32's, both against the labels; each row names what computed it.</p>"
        )
        parts.append(_table(labelled_rows(e)))
        parts.append(fig(evaluation_figure(e)))
        if e.findings:
            parts.append("<p>Calibration-data findings:</p>" + _findings_table(e.findings))
        for note in e.notes:
            parts.append(f"<p class=muted>{html.escape(note)}</p>")
    for entry in bundle.calibration_studies:
        study = entry.study
        target = ", ".join(f"{k} {v:g}" for k, v in study.keep.items())
        smallest = (
            f"smallest_count {study.smallest_count} ({study.smallest_calibrator}) keeps {target}"
            if study.smallest_count is not None
            else f"no count measured keeps {target} (smallest_count none)"
        )
        computed_by = ", ".join(sorted({p.computed_by for p in study.points})) or "none"
        parts.append(
            f"<h3>{html.escape(entry.model)}: {study.precision.upper()} against calibration samples</h3>"
            f"<p>{html.escape(smallest)}; pool {study.pool_samples} samples, {study.evaluation_samples} labelled "
            f"samples, FP32 top-1 {study.reference.top1:.4f}; computed by {html.escape(computed_by)}.</p>"
        )
        parts.append(fig(calibration_study_figure(study)))
        parts.append(
            _table(
                study_point_rows(study)
            )
        )
        if study.findings:
            parts.append("<p>Calibration-data findings:</p>" + _findings_table(study.findings))
        for note in study.notes:
            parts.append(f"<p class=muted>{html.escape(note)}</p>")
    return "".join(parts)


#: Graph views in one report: each inlines the component (~0.7 MB), so the report stays openable.
MAX_REPORT_GRAPHS = 4


def _graphs_html(bundle: ReportBundle) -> str:
    """The graph view of each diagnosed model (parser status, engine precision and time per
    node as overlays) and of what each fix history changed: the app's component, inlined."""
    from workbench.graph_diff import fix_diff_graph
    from workbench.graph_model import graph_view_html, onnx_graph, with_overlays
    from workbench.model import load_model

    latest = {d.model: d for d in bundle.diagnoses if d.model and Path(d.model).is_file()}
    parts: list[str] = []
    for path, diagnosis in list(latest.items())[:MAX_REPORT_GRAPHS]:
        try:
            model = load_model(path)
        except WorkbenchError:
            continue  # the file changed since it was diagnosed; the tables above still say what it was
        builds = [b for b in bundle.builds if b.ok and b.model_hash == model.content_hash]
        profiles = {f"{p.backend} #{i}": p for i, p in enumerate(bundle.profiles) if p.model == path}
        graph = with_overlays(onnx_graph(model, diagnosis), diagnosis=diagnosis, builds=builds, profiles=profiles or None)
        parts.append(f"<h3>Graph: {html.escape(Path(path).name)}</h3>")
        parts.append(graph_view_html(graph, overlay="status", height=640))
    room = MAX_REPORT_GRAPHS - len(parts) // 2
    for fs in [s for s in bundle.fix_sessions if s.steps][:max(room, 0)]:
        paths = [fs.original_path, *(step.model_path for step in fs.steps)]
        if not all(Path(p).is_file() for p in paths):
            continue
        parts.append(f"<h3>What the fixes changed: {html.escape(Path(fs.original_path).name)}</h3>")
        parts.append(graph_view_html(fix_diff_graph(fs), height=640))
    if not parts:
        return ""
    return "<h2 id=graph>Graph</h2>" + "".join(parts)


def render_html(bundle: ReportBundle) -> str:
    import plotly.offline

    from workbench.plots import (
        comparison_rows,
        drift_depth_figure,
        latency_figure,
        layer_timing_figure,
        op_histogram_figure,
        output_error_figure,
        precision_per_layer_figure,
    )

    def fig(figure: Any) -> str:
        return str(figure.to_html(full_html=False, include_plotlyjs=False))

    parts = [
        f"<h1>TensorRT Workbench report</h1><p class=muted>{html.escape(bundle.created)} · workspace {html.escape(bundle.workspace)}</p>"
    ]
    parts.append(
        "<h2 id=environment>Environment</h2>"
        + _table([{"component": k, "version": v} for k, v in bundle.environment.lines()])
    )
    parts.append("<h2 id=models>Models</h2>")
    for summary in bundle.models:
        parts.append(f"<h3>{html.escape(summary.name)}</h3>")
        parts.append(
            _table([{"input": t.name, "dtype": t.dtype, "shape": t.shape_str()} for t in summary.inputs])
        )
        parts.append(
            f"<p>{summary.node_count} nodes, {summary.parameter_count:,} parameters, opsets {html.escape(json.dumps(summary.opsets))}, sha256 {summary.content_hash[:16]}</p>"
        )
        parts.append(fig(op_histogram_figure(summary)))
    parts.append("<h2 id=diagnoses>Diagnoses and fixes</h2>")
    for d in bundle.diagnoses:
        parts.append(
            f"<h3>{html.escape(Path(d.model).name)}: parses {d.parse_ok}, builds {d.build_ok} ({html.escape(d.backend.name if d.backend else '')} {html.escape(d.backend.version if d.backend else '')})</h3>"
        )
        parts.append(
            _table(
                [
                    {
                        "stage": e.stage,
                        "node": e.node_name,
                        "op": e.op_type,
                        "message": e.message.splitlines()[0] if e.message else "",
                        "fixes": ", ".join(e.fixes),
                    }
                    for e in d.errors
                ]
            )
        )
    for s in bundle.fix_sessions:
        parts.append(f"<h3>Fixes applied to {html.escape(Path(s.original_path).name)}</h3>")
        parts.append(
            _table(
                [
                    {
                        "fix": st.fix_id,
                        "op count change": json.dumps(st.diff.op_count_delta),
                        "outputs match": st.meaning.passed,
                        "parses after": st.after.parse_ok,
                        "builds after": st.after.build_ok,
                    }
                    for st in s.steps
                ]
            )
        )
        parts.append(f"<details><summary>fix.py</summary><pre>{html.escape(fix_script(s))}</pre></details>")
    parts.append(_graphs_html(bundle))
    parts.append("<h2 id=builds>Builds</h2>")
    parts.append(
        _table(
            [
                {
                    "model": Path(b.model).name,
                    "precision": b.precision,
                    "ok": b.ok,
                    "backend": f"{b.backend.name} {b.backend.version}" if b.backend else "",
                    "target": b.target,
                    "engine MiB": round((b.engine_bytes or 0) / 2**20, 2),
                    "build s": round(b.build_seconds or 0, 2),
                    "layers by precision": json.dumps(b.precision_counts),
                    "warnings": " | ".join(b.warnings),
                    "error": b.error,
                }
                for b in bundle.builds
            ]
        )
    )
    if any(b.ok for b in bundle.builds):
        parts.append(fig(precision_per_layer_figure(bundle.builds)))
    for b in bundle.builds:
        if b.ok:
            parts.append(
                f"<details><summary>{html.escape(b.config.label())}: {len(b.layers)} engine layers</summary>"
                + _table(
                    [
                        {
                            "layer": layer.name,
                            "type": layer.type,
                            "precision": layer.precision,
                            "onnx nodes": ", ".join(layer.onnx_nodes),
                        }
                        for layer in b.layers
                    ]
                )
                + "</details>"
            )
    parts.append("<h2 id=accuracy>Accuracy and drift</h2>")
    for c in bundle.comparisons:
        parts.append(
            f"<p>Reference: FP32 in {html.escape(c.reference.get('backend', ''))} on the {html.escape(c.reference.get('device', ''))}; inputs {html.escape(json.dumps(c.inputs))} ({html.escape(c.input_source)})</p>"
        )
        parts.append(_table(comparison_rows(c)))
        if any(r.outputs for r in c.results):
            parts.append(fig(output_error_figure(c)))
        if any(r.layerwise for r in c.results):
            parts.append(fig(drift_depth_figure(c)))
    for k in bundle.keep_precision:
        parts.append(
            f"<h3>Keep-precision search ({k.precision.upper()}): tolerances {html.escape(json.dumps(k.tolerances))} {'met' if k.met else 'not met'} after {k.trials} trials</h3><pre>{html.escape(chr(10).join(k.nodes))}</pre>"
        )
    if bundle.evaluations or bundle.calibration_studies:
        parts.append(_labelled_html(bundle, fig))
    parts.append("<h2 id=timing>Timing</h2>")
    for p in bundle.profiles:
        lat = p.latency_ms
        parts.append(
            f"<h3>{html.escape(p.backend)} on {html.escape(p.device)}: mean {lat.mean:.3f} ms, p99 {lat.p99:.3f} ms, {p.throughput:.1f}/s</h3><p class=muted>{html.escape(' '.join(p.notes))}</p>"
        )
        parts.append(fig(layer_timing_figure(p)))
    if bundle.profiles:
        parts.append(
            fig(latency_figure({f"{Path(p.model).name} #{i}": p for i, p in enumerate(bundle.profiles)}))
        )
    if bundle.engine_reports or bundle.engine_comparisons:
        parts.append(_engines_html(bundle, fig))
    for compat in bundle.compat_reports:
        section = report_section(compat)
        parts.append(f"<h2 id=compat>{html.escape(section.title)}: {html.escape(Path(compat.model).name)}</h2>")
        parts.append(_table([{c: row.get(c) for c in section.columns} for row in section.rows]))
        parts.extend(f"<p>{html.escape(sentence)}</p>" for sentence in section.sentences)
        parts.append(f"<pre>{html.escape(section.command)}</pre>")
    parts.append("<h2 id=commands>Reproduce</h2>")
    parts.append(_table([{"tool": c.tool, "purpose": c.purpose, "command": c.text} for c in bundle.commands]))
    parts.append(f"<h3>Dockerfile</h3><pre>{html.escape(bundle.dockerfile)}</pre>")
    parts.append(
        f"<details><summary>requirements.lock</summary><pre>{html.escape(bundle.requirements)}</pre></details>"
    )
    style = "body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;font-size:13px;margin:.5em 0}td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}th{background:#f4f4f4}.muted{color:#777}pre{background:#f7f7f7;padding:.6em;overflow:auto;font-size:12px}h2{border-bottom:2px solid #76b900}"
    plotly_js = plotly.offline.get_plotlyjs()
    return f'<!DOCTYPE html><html><head><meta charset=utf-8><title>TensorRT Workbench report</title><style>{style}</style><script type="text/javascript">{plotly_js}</script></head><body>{"".join(parts)}</body></html>'


def write_report(workspace: Workspace, output: Path) -> tuple[Path, Path]:
    """Write ``report.html`` (self-contained) and ``report.json`` (the bundle) plus
    ``requirements.lock``, ``Dockerfile`` and the fix scripts beside it."""
    bundle = collect(workspace)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_html(bundle), encoding="utf-8")
    json_path = output.with_suffix(".json")
    json_path.write_text(bundle.to_json())
    (output.parent / "requirements.lock").write_text(bundle.requirements)
    (output.parent / "Dockerfile").write_text(bundle.dockerfile)
    for i, session in enumerate(s for s in bundle.fix_sessions if s.steps):
        (output.parent / ("fix.py" if i == 0 else f"fix_{i}.py")).write_text(fix_script(session))
    for name, declared in dict(preprocessing_files(bundle.evaluations).values()).items():
        # The evaluate commands' --preprocessing files.
        (output.parent / name).write_text(json.dumps(declared, indent=2) + "\n")
    return output, json_path
