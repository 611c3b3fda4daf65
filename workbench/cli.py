"""The ``trt-workbench`` command line: a thin front end over the library.

Exit status: 0 success, 1 the model fails what was asked (e.g. it does not parse),
2 bad input (the message says which, in one sentence, with no traceback).
Heavy modules are imported inside the commands so ``trt-workbench --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from workbench import __version__

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
MODEL_HELP = (
    "an .onnx file, a .zip holding one with its external data, or a bundled sample "
    "(sample:resnet_cnn, or its bare name when no such file exists)"
)


def _print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2) + "\n")


# ----------------------------------------------------------------------------- commands


def cmd_summary(args: argparse.Namespace) -> int:
    from workbench.model import load_model
    from workbench.summary import summarize

    summary = summarize(load_model(args.model))
    if args.json:
        _print_json(summary.to_dict())
        return EXIT_OK
    print(format_summary(summary))
    return EXIT_OK


def cmd_env(args: argparse.Namespace) -> int:
    from workbench.env import collect_environment

    report = collect_environment()
    if args.json:
        _print_json(report.to_dict())
        return EXIT_OK
    width = max(len(label) for label, _ in report.lines())
    for label, value in report.lines():
        print(f"{label:<{width}}  {value}")
    return EXIT_OK


def _observed_suggestion(args: argparse.Namespace) -> tuple[list[Any], Any] | None:
    """The observed request shapes of --observed-shapes and the profiles suggested from them."""
    path = getattr(args, "observed_shapes", None)
    if not path:
        return None
    if getattr(args, "observed_cache", None) is None:  # read once per command
        from workbench.shapes import load_observed_shapes, suggest_profiles

        observed = load_observed_shapes(path)
        args.observed_cache = (observed, suggest_profiles(observed))
    result: tuple[list[Any], Any] = args.observed_cache
    return result


def _check_shapes(args: argparse.Namespace) -> Any:
    """--shapes, else (with --observed-shapes) one profile covering every observed shape."""
    from workbench.shapes import parse_shape_specs

    shapes = parse_shape_specs(args.shapes)
    observed = _observed_suggestion(args)
    if not shapes and observed is not None:
        return dict(observed[1].covering)
    return shapes


def _note_defaulted_dims(diagnosis: Any, model: Any) -> None:
    """Put the defaulted-dims notice of the build check's profile into ``profile["notes"]``:
    the same sentence compare and profile give (:func:`workbench.shapes.concrete_shapes`)."""
    profile = diagnosis.profile
    if not profile or not profile.get("assumed"):
        return
    from workbench.shapes import concrete_shapes
    from workbench.summary import summarize

    assumed = set(profile["assumed"])
    _, notes = concrete_shapes([t for t in summarize(model).inputs if t.name in assumed])
    profile["notes"] = notes


def _suggestion_payload(suggestion: Any, used: bool, note: str) -> dict[str, Any]:
    """The suggestion as the commands' JSON gives it: the record, its flags, whether it was used and how."""
    payload: dict[str, Any] = suggestion.to_dict()
    payload["flags"] = suggestion.flags()
    payload["used"] = used
    payload["note"] = note
    return payload


def _print_suggestion(payload: dict[str, Any]) -> None:
    print("Profiles suggested from the observed shapes:")
    for reason in payload["reasons"]:
        print(f"  {reason}")
    print(f"  as flags: {' '.join(payload['flags'])}")
    print(f"  {payload['note']}")


def _diagnose_options(args: argparse.Namespace) -> tuple[Any, Any]:
    from workbench.fixes import FixOptions
    from workbench.fixing import DiagnoseOptions, parse_input_values

    shapes = _check_shapes(args)
    values = parse_input_values(getattr(args, "input_value", None))
    fix_options = FixOptions(
        shapes=shapes,
        input_values=values,
        target_opset=getattr(args, "target_opset", None),
        node=getattr(args, "node", None),
    )
    diag_options = DiagnoseOptions(
        backend=args.backend,
        build_check=args.build_check,
        target=args.target,
        shapes=shapes,
        cache=getattr(args, "cache", True),
    )
    return diag_options, fix_options


def _quiet_stdout(enabled: bool) -> Any:
    """In --json mode nothing but the JSON may reach stdout (Polygraphy logs there)."""
    import contextlib

    return contextlib.redirect_stdout(sys.stderr) if enabled else contextlib.nullcontext()


def _prestart_trt_worker(backend: str) -> None:
    # Before the heavy imports (onnx, numpy), so the worker's start-up runs alongside them.
    from workbench.backends import prestart_worker

    prestart_worker(backend)


def _start_parse_first(args: argparse.Namespace) -> Any:
    """Fork TensorRT's parse of a plain model file before onnx is even imported, so the
    child's TensorRT import and parse run alongside this process' onnx import and checks.
    Anything unusual (a zip, a folder, a missing file) is left to the library's loader."""
    from pathlib import Path

    from workbench.parse_job import start_parse_job

    path = Path(args.model)
    if path.suffix.lower() == ".zip" or not path.is_file():
        return None
    return start_parse_job(
        path,
        backend=args.backend,
        build_check=args.build_check,
        target=args.target,
        shapes=_check_shapes(args) or None,
        timeout=args.timeout,
        fork=True,
    )


def cmd_diagnose(args: argparse.Namespace) -> int:
    job = _start_parse_first(args)
    from workbench.diagnose import diagnose_file

    diag_options, fix_options = _diagnose_options(args)
    with _quiet_stdout(args.json):
        # TensorRT parses in a forked child while this process loads and checks the model.
        model, diagnosis = diagnose_file(
            args.model,
            backend=diag_options.backend,
            build_check=diag_options.build_check,
            target=diag_options.target,
            shapes=diag_options.shapes or None,
            fix_options=fix_options,
            timeout=args.timeout,
            job=job,
            # The text view shows neither the environment report nor the content hash (a
            # 50 MB model's SHA-256 costs a tenth of the command); JSON and --output keep both.
            environment=bool(args.json or args.output),
            hash_content=bool(args.json or args.output),
            cache=diag_options.cache,
        )
    suggestion = None
    observed = _observed_suggestion(args)
    if observed is not None:
        from workbench.shapes import check_observed_against, format_shape_spec
        from workbench.summary import summarize

        check_observed_against(summarize(model).inputs, observed[0])
        covering = " ".join(format_shape_spec(n, t) for n, t in observed[1].covering.items())
        if args.shapes:
            note = "--shapes given: the build check used them, not the shapes observed."
        elif args.build_check:
            note = (
                f"No --shapes given: the build check used one profile covering every observed shape ({covering}); "
                "`build --observed-shapes` builds the suggested profiles."
            )
        else:
            note = "No build check asked for (--build-check); `build --observed-shapes` builds the suggested profiles."
        suggestion = _suggestion_payload(observed[1], bool(args.build_check and not args.shapes), note)
    _note_defaulted_dims(diagnosis, model)
    if args.output:
        from pathlib import Path

        from workbench.workspace import Workspace

        Workspace(Path(args.output)).save_result("diagnoses", diagnosis, label=Path(args.model).name)
    if args.json:
        payload = diagnosis.to_dict()
        if suggestion is not None:
            payload["profile_suggestion"] = suggestion
        _print_json(payload)
    else:
        print(format_diagnosis(diagnosis))
        if suggestion is not None:
            _print_suggestion(suggestion)
    return EXIT_OK if diagnosis.ok else EXIT_FAILED


def _check_fix_outputs(model: Any, output: Any, script: Any) -> None:
    """-o and --script name two new files, neither the input nor a folder (checked before any work)."""
    from workbench.errors import WorkbenchError

    if output.is_dir():
        raise WorkbenchError(f"-o names a folder ({output}): give the fixed model's file name, e.g. {output / 'fixed.onnx'}.")
    if output.suffix.lower() != ".onnx":
        raise WorkbenchError(f"-o must name an .onnx file for the fixed model, not {output.name!r}.")
    if output.exists() and model.exists() and output.resolve() == model.resolve():
        raise WorkbenchError(f"-o is the input model itself ({output}): write the fixed model to another file.")
    if script is not None:
        if script.is_dir():
            raise WorkbenchError(f"--script names a folder ({script}): give the script's file name, e.g. {script / 'fix.py'}.")
        if script.resolve() == output.resolve() or script.resolve() == model.resolve():
            raise WorkbenchError(f"--script and -o (or the input model) name the same file ({script}): give the script its own name.")


def cmd_fix(args: argparse.Namespace) -> int:
    _prestart_trt_worker(args.backend)
    from pathlib import Path

    from workbench.errors import WorkbenchError
    from workbench.fixing import FixStep, apply_fix, auto_fix, export, start_session
    from workbench.model import load_model

    if not args.auto and not args.apply:
        raise WorkbenchError("Say which fixes to apply: --auto, or --apply ID (see `trt-workbench fixes`).")
    diag_options, fix_options = _diagnose_options(args)
    output = Path(args.output)
    _check_fix_outputs(Path(args.model), output, Path(args.script) if args.script else None)
    repro: Path | None = None
    with _quiet_stdout(args.json):
        model = load_model(args.model)
        session = start_session(model, options=fix_options, diagnose_options=diag_options)
        for fix_id in args.apply or []:
            result = apply_fix(session, fix_id)
            if isinstance(result, FixStep) and fix_id == "extract-failing-subgraph":
                repro = output if not session.steps else output.with_name(output.stem + ".repro.onnx")
                import shutil

                shutil.copyfile(result.model_path, repro)
        if args.auto:
            auto_fix(
                session, progress=(lambda m: print(f"  {m}", file=sys.stderr)) if not args.json else None
            )
        script = Path(args.script) if args.script else None
        if session.steps:
            export(session, output, script)
        if args.workspace:
            from workbench.workspace import Workspace

            Workspace(Path(args.workspace)).save_result("fix_sessions", session, label=Path(args.model).name)
    final = session.current_diagnosis
    _note_defaulted_dims(session.original_diagnosis, model)
    _note_defaulted_dims(final, load_model(session.current_path) if session.steps else model)
    payload = {
        "applied": session.applied,
        "before": session.original_diagnosis.to_dict(),
        "after": final.to_dict(),
        "output": str(output) if session.steps else (str(repro) if repro else None),
        "script": str(script) if (script and session.steps) else None,
        "rejected": [r.to_dict() for r in session.rejected],
        "steps": [
            {"fix_id": s.fix_id, "params": s.params, "diff": s.diff.to_dict(), "meaning": s.meaning.to_dict()}
            for s in session.steps
        ],
    }
    if args.json:
        _print_json(payload)
    else:
        print(format_diagnosis(session.original_diagnosis, title="Before"))
        for step in session.steps:
            delta = (
                ", ".join(f"{op} {n:+d}" for op, n in step.diff.op_count_delta.items())
                or "no op-count change"
            )
            check = "outputs match" if step.meaning.passed else (step.meaning.reason or "not checked")
            print(f"\nApplied {step.fix_id}: {delta}; {check}")
        for rejected in session.rejected:
            print(f"\nRejected {rejected.fix_id}: {rejected.reason}")
        print()
        print(format_diagnosis(final, title="After"))
        if session.steps:
            print(f"\nWrote {output}" + (f" and {script}" if script else ""))
        elif repro:
            print(f"\nWrote the reproduction {repro}")
        else:
            print("\nNo fix applied; nothing written.")
    return EXIT_OK if final.ok else EXIT_FAILED


def _load_calibration(args: argparse.Namespace, summary: Any, profiles: list[Any], precisions: list[str]) -> Any:
    """The calibration data ``--calib`` names, or synthetic data when ``--synthetic-calib`` asks
    for it; a calibrated precision with neither is refused before anything runs."""
    from workbench.calibration import calibration_for, load_calibration

    given = load_calibration(args.calib, summary.inputs) if getattr(args, "calib", None) else None
    return calibration_for(
        precisions, given, synthetic=bool(getattr(args, "synthetic_calib", False)), inputs=summary.inputs,
        shapes=profiles[0] if profiles else None,
    )


def _profiles(args: argparse.Namespace) -> list[Any]:
    from workbench.shapes import parse_shape_specs

    profiles = []
    first = parse_shape_specs(args.shapes)
    if first:
        profiles.append(first)
    for extra in args.extra_profile or []:
        profiles.append(parse_shape_specs(extra.replace(";", " ").split()))
    return profiles


def cmd_build(args: argparse.Namespace) -> int:
    from pathlib import Path

    from workbench.build import BuildConfig, BuildProgress, build_matrix
    from workbench.build_options import values_from_args
    from workbench.model import load_model
    from workbench.precision import parse_precisions
    from workbench.summary import summarize
    from workbench.workspace import Workspace

    precisions = parse_precisions(args.precision)
    profiles = _profiles(args)
    observed = _observed_suggestion(args)
    workspace = Workspace(Path(args.output)) if args.output else Workspace.default()
    suggestion = None
    with _quiet_stdout(args.json):
        model = load_model(args.model, workspace=workspace)
        summary = summarize(model)
        _check_names(args, model, summary)
        if observed is not None:
            from workbench.shapes import check_observed_against

            check_observed_against(summary.inputs, observed[0])
            suggestion = _suggestion_payload(
                observed[1],
                not profiles,
                "No --shapes given: built with the suggested profiles."
                if not profiles
                else "--shapes given: built with them, not with the suggested profiles.",
            )
            if not profiles:
                profiles = [dict(p) for p in observed[1].profiles]
        calibration = _load_calibration(args, summary, profiles, precisions)
        options = values_from_args(args)
        from workbench.capabilities import expand_targets, parse_targets

        targets = parse_targets(args.target)
        configs = expand_targets(
            [
                BuildConfig.with_options(
                    options,
                    precision=p,
                    profiles=profiles,
                    target=targets[0] if len(targets) == 1 else None,
                    keep_precision=list(args.keep_precision or []),
                    calibrator=args.calibrator,
                    backend=args.backend,
                )
                for p in precisions
            ],
            targets if len(targets) > 1 else None,
        )
        bar = None
        if not args.json and sys.stderr.isatty():
            from tqdm import tqdm

            bar = tqdm(total=len(configs), desc="builds", unit="engine", file=sys.stderr)

        def progress(p: BuildProgress) -> None:
            if bar is not None:
                bar.n = p.done
                bar.set_postfix_str(f"{p.label}: {p.stage}")
                bar.refresh()
            elif not args.json:
                print(f"  [{p.done}/{p.total}] {p.label}: {p.stage}", file=sys.stderr)

        from workbench.executor import default_executor_name

        # On a cluster every engine of the matrix can build at once; here, one per core.
        parallel = len(configs) if default_executor_name() != "local" else None
        results = build_matrix(
            model, configs, workspace=workspace, calibration=calibration, progress=progress, max_parallel=parallel
        )
        if bar is not None:
            bar.close()
    if args.json:
        payload: dict[str, Any] = {"builds": [r.to_dict() for r in results]}
        if suggestion is not None:
            payload["profile_suggestion"] = suggestion
        _print_json(payload)
    else:
        if suggestion is not None:
            _print_suggestion(suggestion)
        several_targets = len({r.target for r in results}) > 1
        for r in results:
            label = r.config.label() + (f" @{r.target}" if several_targets and r.target else "")
            if r.ok:
                counts = ", ".join(f"{k} {v}" for k, v in sorted(r.precision_counts.items()))
                cached = " (cached)" if r.cached else ""
                print(
                    f"{label}: {(r.engine_bytes or 0) / 2**20:.2f} MiB in {r.build_seconds or 0:.1f} s{cached}, layers {counts} -> {r.engine_path}"
                )
            else:
                print(f"{label}: FAILED: {r.error}")
            if r.transform is not None and r.transform.note:
                print(f"    note: {r.transform.note}")
            for warning in r.warnings:
                print(f"    warning: {warning}")
    # Nothing asked for was made: the workspace is left as it was (main undoes the additions).
    args.rollback = not any(r.ok for r in results)
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


def cmd_calib_check(args: argparse.Namespace) -> int:
    from workbench.calibration import check_calibration, load_calibration
    from workbench.model import load_model
    from workbench.summary import summarize

    model = load_model(args.model)
    summary = summarize(model)
    _check_names(args, model, summary)
    data = load_calibration(args.data, summary.inputs)
    report = check_calibration(data, summary, _profiles(args) or None)
    comparison = None
    if args.compare_calibrators and report.ok:
        from workbench.calibration import compare_calibrators
        from workbench.workspace import Workspace

        with _quiet_stdout(True):
            comparison = compare_calibrators(model, data, Workspace.default())
    if args.json:
        payload = report.to_dict()
        if comparison is not None:
            payload["calibrators"] = comparison.to_dict()
        _print_json(payload)
    else:
        print(f"{report.source}: {report.samples} sample(s)")
        for s in report.stats:
            print(
                f"  {s.input}: {s.dtype} {s.shape}, range {s.min:.4g}..{s.max:.4g}, mean {s.mean:.4g}, std {s.std:.4g}"
            )
        for item in report.items:
            print(f"  {item.level}: {item.message}")
        if comparison is not None:
            print(
                f"INT8 calibrators, against FP32 in ONNX Runtime (CPU) on {comparison.evaluation_samples} held-out sample(s):"
            )
            for outcome in comparison.outcomes:
                worst = max(outcome.outputs, key=lambda m: m.max_abs)
                top1 = (
                    f", top-1 agreement {outcome.top1_agreement:.1%}"
                    if outcome.top1_agreement is not None
                    else ""
                )
                print(
                    f"  {outcome.calibrator:<8} max_abs {worst.max_abs:.4g}, cosine {min(m.cosine for m in outcome.outputs):.5f}{top1}"
                )
            if comparison.scale_ratio_median is not None:
                print(
                    f"  max/entropy activation scale ratio: median {comparison.scale_ratio_median:.2f}, largest {comparison.scale_ratio_max:.2f}"
                )
    return EXIT_OK if report.ok else EXIT_FAILED


def _comparison_inputs(args: argparse.Namespace, summary: Any, precisions: list[str]) -> tuple[Any, Any, Any]:
    from workbench.calibration import calibration_for, load_calibration
    from workbench.shapes import parse_shape_specs

    shapes = parse_shape_specs(getattr(args, "shapes", None)) or None
    given = load_calibration(args.calib, summary.inputs) if args.calib else None
    calibration = calibration_for(
        precisions, given, synthetic=bool(getattr(args, "synthetic_calib", False)), inputs=summary.inputs,
        shapes=shapes,
    )
    data = load_calibration(args.inputs, summary.inputs) if getattr(args, "inputs", None) else None
    return shapes, calibration, data


def cmd_compare(args: argparse.Namespace) -> int:
    from workbench.compare import compare_precisions, drift_jumps, parse_tolerances
    from workbench.model import load_model
    from workbench.precision import parse_precisions
    from workbench.summary import summarize

    precisions = parse_precisions(args.precision)
    tolerances = parse_tolerances(args.tolerance)
    model = load_model(args.model)
    summary = summarize(model)
    _check_names(args, model, summary)
    shapes, calibration, data = _comparison_inputs(args, summary, precisions)
    with _quiet_stdout(True):
        comparison = compare_precisions(
            model,
            precisions,
            calibration=calibration,
            data=data,
            shapes=shapes,
            layerwise=args.layerwise,
            tolerances=tolerances,
            calibrator=args.calibrator,
            samples=args.samples,
            workspace=_workspace(args),
        )
    if args.json:
        _print_json(comparison.to_dict())
    else:
        ref = comparison.reference
        print(
            f"Reference: FP32 in {ref['backend']} on the {ref['device']}; inputs {comparison.inputs} ({comparison.input_source})"
        )
        for r in comparison.results:
            if not r.available:
                print(f"  {r.precision}: not computed: {r.note}")
                continue
            verdict = (
                "" if r.passed is None else ("  PASS" if r.passed else "  FAIL: " + "; ".join(r.failures))
            )
            for o in r.outputs:
                print(
                    f"  {r.precision} [{r.backend}] {o.name}: max_abs {o.max_abs:.4g}, mean_abs {o.mean_abs:.4g}, rel {o.rel:.4g}, cosine {o.cosine:.6f}, snr {o.snr_db:.1f} dB"
                )
            if r.top1_agreement is not None:
                print(f"  {r.precision} top-1 agreement {r.top1_agreement:.1%}")
            if verdict:
                print(verdict)
            if r.layerwise:
                print(f"    {len(r.layerwise)} tensors compared; largest jumps in error:")
                for row, jump in drift_jumps(r.layerwise, 5):
                    print(f"      {row.node} ({row.op_type}): max_abs {row.max_abs:.4g} (+{jump:.4g})")
    failed = any(r.passed is False for r in comparison.results)
    return EXIT_FAILED if failed else EXIT_OK


def cmd_keep_precision(args: argparse.Namespace) -> int:
    from workbench.compare import keep_precision_search, parse_tolerances
    from workbench.model import load_model
    from workbench.summary import summarize

    model = load_model(args.model)
    summary = summarize(model)
    _check_names(args, model, summary)
    if getattr(args, "data", None):
        return _keep_precision_on_labelled_data(args, model, summary)
    shapes, calibration, data = _comparison_inputs(args, summary, [args.precision])
    with _quiet_stdout(True):
        result = keep_precision_search(
            model,
            precision=args.precision,
            calibration=calibration,
            tolerances=parse_tolerances(args.tolerance),
            data=data,
            shapes=shapes,
            calibrator=args.calibrator,
            max_trials=args.max_trials,
            workspace=_workspace(args),
            progress=None if args.json else (lambda m: print(f"  {m}", file=sys.stderr)),
        )
    if args.json:
        payload = result.to_dict()
        _print_json(payload)
    else:
        state = "met" if result.met else "NOT met"
        print(
            f"Tolerances {result.tolerances} {state} after {result.trials} trial(s) (re-quantized with ModelOpt, run in ONNX Runtime on the CPU)."
        )
        print(f"Keep {len(result.nodes)} node(s) in higher precision:")
        for node in result.nodes:
            print(f"  {node}")
        for before, after in zip(result.baseline, result.outputs):
            print(
                f"  {after.name}: max_abs {before.max_abs:.4g} -> {after.max_abs:.4g}, cosine {before.cosine:.6f} -> {after.cosine:.6f}"
            )
        _print_build_hint(result.precision, result.nodes)
    return EXIT_OK if result.met else EXIT_FAILED


def _print_build_hint(precision: str, nodes: list[str]) -> None:
    """The build command that keeps a keep-precision search's nodes high."""
    if nodes:
        print(
            f"Build it: trt-workbench build MODEL --precision {precision} "
            + " ".join(f"--keep-precision '{n}'" for n in nodes[:8])
            + (" ..." if len(nodes) > 8 else "")
        )


def _engine_reports(args: argparse.Namespace, exports: list[str]) -> list[Any]:
    from pathlib import Path

    from workbench.engine_report import load_engine_export, load_engine_exports
    from workbench.errors import WorkbenchError

    for text in exports:
        if not Path(text).exists():
            raise WorkbenchError(f"{text} does not exist.")
    explicit = getattr(args, "profile", None) or getattr(args, "timing", None)
    if explicit:
        if len(exports) != 1 or not Path(exports[0]).is_file():
            raise WorkbenchError("--profile and --timing go with one layer-info file (X.engine.graph.json).")
        return [load_engine_export(exports[0], profile=args.profile, timing=args.timing)]
    return load_engine_exports(exports)


def _engine_onnx(args: argparse.Namespace) -> Any:
    if not getattr(args, "onnx", None):
        return None
    from workbench.model import load_model
    from workbench.samples import resolve_model_argument

    path, notice = resolve_model_argument(args.onnx)
    if notice:
        print(f"trt-workbench: {notice}", file=sys.stderr)
    return load_model(path)


def cmd_engine_show(args: argparse.Namespace) -> int:
    from workbench.engine_report import format_report, map_to_onnx, show_json
    from workbench.errors import WorkbenchError

    reports = _engine_reports(args, [args.export])
    if len(reports) != 1:
        labels = ", ".join(r.label for r in reports)
        raise WorkbenchError(
            f"{args.export} holds {len(reports)} engines ({labels}): name one layer-info file, or use `engine compare`."
        )
    report = reports[0]
    model = _engine_onnx(args)
    mapping = map_to_onnx(report, model) if model is not None else None
    if args.output:
        workspace = _workspace(args)
        workspace.save_result("engine_reports", report, label=report.label)
    if args.json:
        payload = show_json(report)
        if mapping is not None:
            payload["onnx_mapping"] = mapping.to_dict()
        _print_json(payload)
        return EXIT_OK
    print(format_report(report, top=args.top))
    if mapping is not None:
        matched = sum(1 for layer in mapping.layers if layer.nodes)
        print(
            f"ONNX mapping to {model.name}: {matched} layers name {len(mapping.node_ms)} of {mapping.model_nodes} nodes; "
            f"{len(mapping.unmatched_layers)} layers match no node, {len(mapping.uncovered_nodes)} nodes appear in no layer "
            f"({len(mapping.absorbed_nodes)} of them absorbed into a fused kernel); "
            f"{mapping.reformat_layers} reformats, {mapping.qdq_layers} Q/DQ layers."
        )
        print(f"  {mapping.note}")
    return EXIT_OK


def cmd_engine_compare(args: argparse.Namespace) -> int:
    from workbench.engine_report import compare_engines, compare_json, format_comparison
    from workbench.errors import WorkbenchError

    reports = _engine_reports(args, list(args.exports))
    if len(reports) < 2:
        raise WorkbenchError(
            f"engine compare needs two or more engines; {' '.join(args.exports)} holds {len(reports)}."
        )
    model = _engine_onnx(args)
    comparison = compare_engines(reports, onnx_nodes=model)
    if args.output:
        workspace = _workspace(args)
        for report in reports:
            workspace.save_result("engine_reports", report, label=report.label)
        workspace.save_result("engine_comparisons", comparison, label=" vs ".join(r.label for r in reports))
    if args.json:
        _print_json(compare_json(comparison))
        return EXIT_OK
    print(format_comparison(comparison, top=args.top))
    return EXIT_OK


def cmd_compat(args: argparse.Namespace) -> int:
    from pathlib import Path

    from workbench.archives import safe_text
    from workbench.compat import check_versions, compat_json, export_environments, parse_specs
    from workbench.errors import WorkbenchError
    from workbench.fixing import parse_input_values
    from workbench.model import load_model
    from workbench.shapes import parse_shape_specs
    from workbench.summary import summarize

    # Every argument is checked before anything is installed or parsed (bad input: exit 2).
    specs = [v.strip() for v in (args.versions or "").split(",") if v.strip()]
    parse_specs(specs, args.backend)
    input_values = parse_input_values(args.input_value)
    if args.export and Path(args.export).exists() and not Path(args.export).is_dir():
        raise WorkbenchError(f"--export {safe_text(args.export)} is a file, not a folder.")
    model = load_model(args.model)  # the checks (and external-data rules) before any backend runs
    summary = summarize(model)
    _check_names(args, model, summary)
    unknown = sorted(set(input_values) - {t.name for t in summary.inputs})
    if unknown:
        raise WorkbenchError(f"--input-value names {unknown[0]!r}, which is not an input of the model.")
    say = (lambda m: print(f"  {m}", file=sys.stderr)) if not args.json else None
    with _quiet_stdout(args.json):  # the fixes' Polygraphy logs go to stdout
        report = check_versions(
            model.path,
            specs,
            backend=args.backend,
            existing=list(args.env or []),
            build_check=args.build_check,
            target=args.target,
            shapes=parse_shape_specs(args.shapes) or None,
            timeout=args.timeout,
            progress=say,
            model=model,
            cache=not args.no_cache,
            cuda=args.cuda,
            driver=args.driver,
            try_fixes=args.try_fixes,
            input_values=input_values,
        )
    ran = [v for v in report.versions if v.environment_error is None]
    if not ran:
        raise WorkbenchError("No version could be run: " + " ".join(v.environment_error or "" for v in report.versions))
    if args.output:
        _workspace(args).save_result("compat_reports", report, label=model.name)
    if args.export:
        import shutil
        import tempfile

        # Staged beside the folder and moved in per version: a failure leaves it as it was.
        target_dir = Path(args.export)
        target_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".compat-export-", dir=target_dir.parent))
        try:
            written = export_environments(report, staging)
            for sub in sorted(staging.iterdir()):
                shutil.copy2(model.path, sub / Path(report.model).name)
            target_dir.mkdir(exist_ok=True)
            for sub in sorted(staging.iterdir()):
                final = target_dir / sub.name
                if final.exists():
                    shutil.rmtree(final)
                sub.rename(final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if say:
            say(f"wrote requirements.lock, Dockerfile and check.py for {len(written)} version(s) under {safe_text(str(target_dir))}")
    if args.json:
        _print_json(compat_json(report))
    else:
        print(f"{model.name} across {args.backend} versions" + (f" (build check for {report.target})" if report.build_check else ""))
        for v in report.versions:
            if v.environment_error:
                print(f"  {v.version:<12} not run: {v.environment_error}")
                continue
            parse = "parses" if v.parse_ok else f"does not parse ({len(v.parse_errors)} error(s))"
            build = "" if v.build_ok is None else (", builds" if v.build_ok else f", build fails: {v.build_errors[0] if v.build_errors else '?'}")
            size = f", {v.engine_bytes / 2**20:.2f} MiB" if v.engine_bytes else ""
            layers = ""
            if v.layer_count is not None:
                mix = ", ".join(f"{n} {p}" for p, n in sorted((v.precision_counts or {}).items()))
                layers = f", {v.layer_count} layers ({mix})"
            print(f"  {v.version:<12} {parse}{build}{size}{layers}" + ("  [cached]" if v.cached else ""))
            for error in v.errors[:3]:
                where = error.node_name or error.op_type or "?"
                print(f"      {safe_text(where)}: {safe_text(error.message.splitlines()[0] if error.message else '')[:200]}")
                if error.fixes:
                    print(f"          fixes: {', '.join(error.fixes)}")
            if v.fix is not None and v.fix.sentence:
                print(f"      fix: {safe_text(v.fix.sentence)}")
        if report.first_accepting:
            print(f"  accepted from {report.first_accepting} to {report.last_accepting}")
        else:
            print("  no version checked accepts it")
        for note in report.differences:
            print(f"  - {safe_text(note)}")
        for warning in report.warnings:
            print(f"  warning: {safe_text(warning)}")
    accepted = all(v.parse_ok and v.build_ok is not False for v in ran)
    return EXIT_OK if accepted else EXIT_FAILED


def _labelled_inputs(args: argparse.Namespace, summary: Any) -> tuple[Any, Any]:
    """The labelled data (DATA / --data) and the calibration data (--calib) of an accuracy command."""
    from workbench.evaluation import load_calibration_data, load_labelled

    source = getattr(args, "data", None)
    data = load_labelled(source, summary.inputs, args.preprocessing, labels_file=args.labels) if source else None
    calibration = (
        load_calibration_data(args.calib, summary.inputs, args.preprocessing) if getattr(args, "calib", None) else None
    )
    return data, calibration


def _print_findings(findings: list[Any]) -> None:
    from workbench.archives import safe_text

    for f in findings:
        print(f"calibration data [{f.severity}] {f.kind}: {safe_text(f.message)}", file=sys.stderr)
        effect = f.effect
        if effect is not None and effect.with_flagged is not None and effect.without_flagged is not None:
            print(
                f"  effect ({effect.precision} {effect.calibrator}): kept top-1 {effect.with_flagged:.4f} with them, "
                f"{effect.without_flagged:.4f} without ({effect.how})",
                file=sys.stderr,
            )


def _labelled_data_argument(args: argparse.Namespace) -> None:
    """``DATA`` or ``--data DATA`` (both spellings are the contract): exactly one of them."""
    from workbench.errors import WorkbenchError

    flag = getattr(args, "data_flag", None)
    if flag is not None and args.data is not None and flag != args.data:
        raise WorkbenchError(f"Give the labelled data once: DATA ({args.data}) or --data ({flag}), not both.")
    args.data = args.data if args.data is not None else flag
    if args.data is None:
        raise WorkbenchError(
            "Give the labelled data: DATA or --data DATA (an .npz of the inputs plus 'labels', or a folder "
            "or .zip with one sub-folder per class)."
        )


def cmd_evaluate(args: argparse.Namespace) -> int:
    from workbench.errors import WorkbenchError
    from workbench.evaluation import calibration_findings, evaluate, meets, parse_keep
    from workbench.model import load_model
    from workbench.precision import PRECISION_INFO, parse_precisions
    from workbench.summary import summarize

    _labelled_data_argument(args)

    precisions = parse_precisions(args.precision)
    targets = parse_keep(args.tolerance) if args.tolerance else {}
    model = load_model(args.model)
    summary = summarize(model)
    data, calibration = _labelled_inputs(args, summary)
    if any(PRECISION_INFO[p].calibrated for p in precisions) and calibration is None:
        raise WorkbenchError("INT8 and FP8 need calibration data: give --calib DATA.")
    if calibration is not None and not args.json:
        # The cheap checks first: a mis-preprocessed calibration set is named before anything is built.
        _print_findings(calibration_findings(calibration, data))
    with _quiet_stdout(True):
        evaluation = evaluate(
            model,
            data,
            precisions,
            calibration=calibration,
            calibrator=args.calibrator,
            output=args.output_name,
            workspace=_workspace(args),
            progress=None if args.json else (lambda m: print(f"  {m}", file=sys.stderr)),
        )
    failed = [
        r.precision for r in evaluation.results if targets and r.available and not meets(r, targets, evaluation.reference.top1)
    ]
    if args.json:
        payload = evaluation.to_dict()
        if targets:
            payload["tolerances"] = targets
            payload["failed"] = failed
        _print_json(payload)
    else:
        ref = evaluation.reference
        print(
            f"{evaluation.data_source}: {ref.n} labelled samples, {evaluation.classes} classes, output {evaluation.output!r}"
        )
        print(f"  {'precision':<9} {'top-1':>7} {'top-5':>7} {'kept':>7} {'lost':>5} {'gained':>6}  computed by")
        for r in evaluation.results:
            if not r.available:
                print(f"  {r.precision:<9} not computed: {r.note}")
                continue
            verdict = "" if not targets else ("  FAIL" if r.precision in failed else "  PASS")
            print(
                f"  {r.precision:<9} {r.top1:>7.4f} {r.top5:>7.4f} {r.kept_top1:>7.4f} {r.regressions_total:>5} "
                f"{r.improvements:>6}  {r.computed_by}{verdict}"
            )
        for r in evaluation.results:
            for lost in r.regressions[: args.show_regressions]:
                where = f" {lost.source}" if lost.source else ""
                print(
                    f"  {r.precision} lost sample {lost.index}{where}: label {lost.label}, FP32 said "
                    f"{lost.reference_prediction}, {r.precision.upper()} says {lost.prediction}"
                )
    return EXIT_FAILED if failed else EXIT_OK


def _comma_counts(text: str, pool: int) -> list[int]:
    """``8,32,128,all`` -> ``[8, 32, 128, pool]`` (``all``: the whole calibration pool)."""
    from workbench.errors import WorkbenchError

    try:
        counts = [pool if t.strip() == "all" else int(t) for t in text.split(",") if t.strip()]
    except ValueError as exc:
        raise WorkbenchError(
            f"Bad --counts {text!r}: give whole numbers (or all) separated by commas, e.g. 8,32,128,all."
        ) from exc
    if not counts or min(counts) < 1:
        raise WorkbenchError(f"Bad --counts {text!r}: give whole numbers of 1 or more, e.g. 8,32,128,512.")
    return counts


def cmd_calib_study(args: argparse.Namespace) -> int:
    from workbench.errors import WorkbenchError
    from workbench.evaluation import calibration_study, parse_keep
    from workbench.model import load_model
    from workbench.summary import summarize

    _labelled_data_argument(args)

    model = load_model(args.model)
    summary = summarize(model)
    data, calibration = _labelled_inputs(args, summary)
    if calibration is None:
        raise WorkbenchError("A calibration study needs a pool of calibration data: give --calib DATA.")
    calibrators = [c.strip() for c in args.calibrators.split(",") if c.strip()]
    with _quiet_stdout(True):
        study = calibration_study(
            model,
            data,
            calibration,
            _comma_counts(args.counts, calibration.samples),
            calibrators,
            parse_keep(args.keep) if args.keep else {"kept_top1": 0.99},
            precision=args.precision,
            seed=args.seed,
            measure_findings=not args.no_effects,
            output=args.output_name,
            workspace=_workspace(args),
            progress=None if args.json else (lambda m: print(f"  {m}", file=sys.stderr)),
        )
    if args.figure:
        from workbench.plots import calibration_study_figure

        calibration_study_figure(study).write_html(args.figure, include_plotlyjs=True)
    if args.json:
        _print_json(study.to_dict())
    else:
        print(
            f"{study.precision.upper()} against calibration samples: FP32 top-1 {study.reference.top1:.4f} on "
            f"{study.evaluation_samples} labelled samples, pool {study.pool_samples} ({calibration.source})"
        )
        print(f"  {'calibrator':<10} {'samples':>7} {'top-1':>7} {'kept':>7} {'cosine':>9}  meets")
        for p in study.points:
            print(
                f"  {p.calibrator:<10} {p.samples:>7} {p.top1:>7.4f} {p.kept_top1:>7.4f} {p.output_cosine:>9.5f}  "
                f"{'yes' if p.meets else 'no'}"
            )
        target = ", ".join(f"{k}={v:g}" for k, v in study.keep.items())
        if study.smallest_count is None:
            print(f"No count measured keeps {target}.")
        else:
            print(f"Smallest count that keeps {target}: {study.smallest_count} ({study.smallest_calibrator})")
        _print_findings(study.findings)
        for note in study.notes:
            print(f"  note: {note}")
    return EXIT_OK if study.smallest_count is not None else EXIT_FAILED


def _keep_precision_on_labelled_data(args: argparse.Namespace, model: Any, summary: Any) -> int:
    from workbench.errors import WorkbenchError
    from workbench.evaluation import keep_precision_for_accuracy, parse_keep

    data, calibration = _labelled_inputs(args, summary)
    if calibration is None:
        raise WorkbenchError("The keep-precision search needs calibration data: give --calib DATA.")
    with _quiet_stdout(True):
        result = keep_precision_for_accuracy(
            model,
            data,
            calibration=calibration,
            keep=parse_keep(args.tolerance) if args.tolerance else {"kept_top1": 0.99},
            precision=args.precision,
            calibrator=args.calibrator,
            max_trials=args.max_trials,
            workspace=_workspace(args),
            progress=None if args.json else (lambda m: print(f"  {m}", file=sys.stderr)),
        )
    if args.json:
        _print_json(result.to_dict())
    else:
        state = "met" if result.met else "NOT met"
        print(
            f"Target {result.keep} {state} after {result.trials} trial(s) on {data.samples} labelled samples "
            f"(re-quantized with ModelOpt, run by {result.computed_by})."
        )
        print(
            f"  kept top-1 {result.baseline.kept_top1:.4f} -> {result.final.kept_top1:.4f} "
            f"(FP32 top-1 {result.reference.top1:.4f}); keep {len(result.nodes)} node(s) in higher precision:"
        )
        for node in result.nodes:
            print(f"  {node}")
        _print_build_hint(result.precision, result.nodes)
    return EXIT_OK if result.met else EXIT_FAILED


def add_evaluation_parsers(sub: Any, keep_precision_parser: argparse.ArgumentParser) -> None:
    def add_labelled_args(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--calib", help="calibration data for int8/fp8 (.npz keyed by input name, a 'labels' key is ignored; images)"
        )
        p.add_argument(
            "--preprocessing", "--preprocess",
            help="how images become the input: torchvision, timm, paddleclas, none, or a JSON file (default: the "
            "calibration default fitted to the input)",
        )
        p.add_argument("--labels", help="a labels file for an image folder: one class per line, first word the folder name")
        p.add_argument("--output-name", help="the classifier output to score (default: the first output)")
        p.add_argument("-o", "--output", help="workspace folder for transforms and results (default: the user's cache)")
        p.add_argument("--json", action="store_true")
        p.add_argument("--data", dest="data_flag", metavar="DATA", help="the labelled data (the same as DATA)")

    p = sub.add_parser("evaluate", help="task accuracy (top-1, top-5, kept top-1) of each precision on labelled data")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument(
        "data", nargs="?",
        help="labelled data: .npz of the inputs plus 'labels', or a folder (or .zip) with one sub-folder per class "
        "(or --data DATA)",
    )
    p.add_argument("--precision", default="fp32,fp16,int8", help="comma-separated (default: %(default)s)")
    p.add_argument("--calibrator", default="entropy", choices=["entropy", "max"])
    p.add_argument(
        "--tolerance", action="append", metavar="METRIC=VALUE",
        help="e.g. kept_top1=0.99 (kept_top1, top1, top5, agreement_top1, output_cosine, drop_top1): exit 1 when missed",
    )
    p.add_argument("--show-regressions", type=_whole_number(0), default=5, metavar="N",
                   help="list the first N samples each precision loses (default: %(default)s)")
    add_labelled_args(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "calib-study", help="INT8 accuracy against calibration sample count and calibrator, and the data's findings"
    )
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument(
        "data", nargs="?", help="labelled evaluation data (.npz with 'labels', or a class-folder image set; or --data DATA)"
    )
    p.add_argument(
        "--counts", "--sample-counts", dest="counts", default="8,32,128,512",
        help="calibration sample counts, 'all' for the whole pool (default: %(default)s)",
    )
    p.add_argument("--calibrators", "--calibrator", dest="calibrators", default="entropy,max",
                   help="comma-separated (default: %(default)s)")
    p.add_argument("--keep", action="append", metavar="METRIC=VALUE", help="the target (default: kept_top1=0.99)")
    p.add_argument("--precision", default="int8", choices=["int8", "fp8"])
    p.add_argument("--seed", type=_whole_number(0), default=0, help="the shuffle of the pool (default: %(default)s)")
    p.add_argument("--no-effects", action="store_true", help="flag the calibration data's problems, do not measure them")
    p.add_argument("--figure", help="write the study chart to this HTML file")
    add_labelled_args(p)
    p.set_defaults(func=cmd_calib_study)

    # keep-precision MODEL --data DATA --calib CALIB --tolerance kept_top1=0.99
    keep_precision_parser.add_argument(
        "--data",
        help="labelled data: search for a task-metric target (--tolerance kept_top1=0.99) instead of output metrics",
    )
    keep_precision_parser.add_argument("--preprocessing", "--preprocess", help="how images become the input (see evaluate)")
    keep_precision_parser.add_argument("--labels", help="a labels file for an image folder")


def _check_names(args: argparse.Namespace, model: Any, summary: Any) -> None:
    """Inputs named by --shapes/--extra-profile and nodes named by --keep-precision must exist."""
    from workbench.graph_index import require_node_names
    from workbench.shapes import check_profile_inputs, parse_shape_specs

    inputs = [t.name for t in summary.inputs]
    check_profile_inputs(parse_shape_specs(getattr(args, "shapes", None)), inputs)
    for extra in getattr(args, "extra_profile", None) or []:
        check_profile_inputs(parse_shape_specs(extra.replace(";", " ").split()), inputs, "--extra-profile")
    require_node_names(getattr(args, "keep_precision", None) or [], model.proto.graph)


def _workspace(args: argparse.Namespace) -> Any:
    from pathlib import Path

    from workbench.workspace import Workspace

    return Workspace(Path(args.output)) if getattr(args, "output", None) else Workspace.default()


def cmd_profile(args: argparse.Namespace) -> int:

    from workbench.shapes import parse_shape_specs
    from workbench.timing import profile_any, reconcile

    shapes = {name: triple[1] for name, triple in parse_shape_specs(args.shapes).items()}
    backend = args.backend or (
        "tensorrt" if str(args.model).endswith((".engine", ".plan", ".trt")) else "onnxruntime"
    )
    if backend == "onnxruntime":
        from workbench.model import load_model
        from workbench.summary import summarize

        # bad input is a one-sentence error before anything runs
        model = load_model(args.model)
        _check_names(args, model, summarize(model))
    profile = profile_any(
        str(args.model),
        backend=backend,
        shapes=shapes or None,
        iterations=args.iterations,
        warmup=args.warmup,
        optimization=args.optimization,
        # A TensorRT profile also lands as trtexec's export files, so the Engines page opens it.
        exports_dir=str(_workspace(args).root / "engine-exports") if args.output and backend == "tensorrt" else None,
    )
    if args.output:
        _workspace(args).save_result("profiles", profile, label=str(args.model).split("/")[-1])
    if args.json:
        payload = profile.to_dict()
        payload.pop("samples_ms", None) if not args.samples else None
        _print_json(payload)
    else:
        lat = profile.latency_ms
        print(
            f"{profile.backend} on {profile.device}: {profile.iterations} runs after {profile.warmup} warm-up, inputs {profile.input_shapes}"
        )
        print(
            f"  latency ms: mean {lat.mean:.3f}, median {lat.median:.3f}, p90 {lat.p90:.3f}, p95 {lat.p95:.3f}, p99 {lat.p99:.3f}; throughput {profile.throughput:.1f}/s"
        )
        r = reconcile(profile)
        print(
            f"  per-layer sum {r['layer_sum_ms']:.3f} ms against {r['end_to_end_ms']:.3f} ms end to end (profiled run)"
        )
        for layer in profile.layers[:10]:
            print(f"    {layer.ms:8.3f} ms  {layer.op_type:<18} {layer.name}")
        for note in profile.notes:
            print(f"  note: {note}")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from workbench.report import write_report
    from workbench.workspace import Workspace

    with _quiet_stdout(True):
        html_path, json_path = write_report(Workspace(Path(args.workspace)), Path(args.output))
    print(
        f"Wrote {html_path} (self-contained, opens offline) and {json_path}, with requirements.lock and Dockerfile beside them."
    )
    return EXIT_OK


def cmd_fixes(args: argparse.Namespace) -> int:
    from workbench.fixes import REGISTRY

    if args.json:
        _print_json(
            [
                {"id": f.id, "title": f.title, "explanation": f.explanation, "auto": f.auto}
                for f in REGISTRY.values()
            ]
        )
        return EXIT_OK
    for fix in REGISTRY.values():
        print(f"{fix.id:<28} {fix.title}")
    return EXIT_OK


def format_diagnosis(diagnosis: Any, title: str = "Diagnosis") -> str:
    backend = f"{diagnosis.backend.name} {diagnosis.backend.version}" if diagnosis.backend else "no backend"
    build = {True: "builds", False: "does not build", None: "build not checked"}[diagnosis.build_ok]
    target = f" for {diagnosis.target}" if diagnosis.target else ""
    cached = ", build check cached" if getattr(diagnosis, "cached", False) else ""
    lines = [
        f"{title}: {'parses' if diagnosis.parse_ok else 'does not parse'}, {build}{target}  ({backend}{cached})"
    ]
    for err in diagnosis.errors:
        where = f"{err.node_name} [{err.op_type}]" if err.node_name else (", ".join(err.tensors) or "model")
        lines.append(f"  {err.stage} error at {where}: {err.message.splitlines()[0] if err.message else ''}")
        if err.func:
            lines.append(f"      parser check: {err.func} ({err.code})")
        if err.fixes:
            lines.append(f"      fixes: {', '.join(err.fixes)}")
    for finding in diagnosis.findings:
        lines.append(f"  {finding.severity}: {finding.message}")
        if finding.fixes:
            lines.append(f"      fixes: {', '.join(finding.fixes)}")
    for note in (diagnosis.profile or {}).get("notes") or []:
        lines.append(f"  note: {note}")
    return "\n".join(lines)


def cmd_ui(args: argparse.Namespace) -> int:
    from workbench.launch import plan_launch, serve
    from workbench.samples import find_sample

    if args.sample:
        find_sample(args.sample)  # a wrong name is a one-sentence error, not a blank page
    plan = plan_launch(sample=args.sample, port=args.port, address=args.address, headless=args.headless)
    return serve(plan, say=lambda text: print(f"trt-workbench: {text}", file=sys.stderr, flush=True))


def format_summary(summary: Any) -> str:
    def mib(n: int) -> str:
        return f"{n / 2**20:.2f} MiB"

    lines = [
        f"Model        {summary.name}  ({mib(summary.total_bytes)} on disk, sha256 {summary.content_hash[:12]})",
        f"Producer     {summary.producer_name or '?'} {summary.producer_version}".rstrip(),
        f"IR version   {summary.ir_version}",
        "Opsets       " + ", ".join(f"{d} {v}" for d, v in summary.opsets.items()),
    ]
    if summary.custom_domains:
        lines.append(
            "Custom       " + ", ".join(summary.custom_domains) + "  (TensorRT needs plugins for these)"
        )
    if summary.external_data_files:
        lines.append("Ext. data    " + ", ".join(summary.external_data_files))
    lines.append("Inputs")
    for t in summary.inputs:
        lines.append(f"  {t.name:<24} {t.dtype:<10} {t.shape_str()}")
    lines.append("Outputs")
    for t in summary.outputs:
        lines.append(f"  {t.name:<24} {t.dtype:<10} {t.shape_str()}")
    extra = f" ({summary.subgraph_node_count} in subgraphs)" if summary.subgraph_node_count else ""
    lines.append(f"Nodes        {summary.node_count}{extra}")
    lines.append("Operators    " + ", ".join(f"{op} {n}" for op, n in summary.op_histogram.items()))
    lines.append(f"Parameters   {summary.parameter_count:,} ({mib(summary.parameter_bytes)})")
    lines.append("Initializers " + ", ".join(f"{d} {n}" for d, n in summary.initializer_dtypes.items()))
    if summary.dynamic_dims:
        dims = ", ".join(
            f"{d.input}[{'rank' if d.axis is None else d.axis}]" + (f"={d.name}" if d.name else "")
            for d in summary.dynamic_dims
        )
        lines.append(f"Dynamic      {dims}  (TensorRT needs an optimization profile)")
    for name, dims in summary.shared_dim_names.items():
        lines.append(f"Shared dims  {name}: {', '.join(dims)} name more than one axis")
    lines.append(f"Checker      {'ok' if summary.checker_ok else summary.checker_error}")
    if summary.shape_inference_error:
        lines.append(f"Shapes       inference failed: {summary.shape_inference_error}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- parser


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad argument reported as one line (exit 2) instead of usage + error."""

    def error(self, message: str) -> NoReturn:
        from workbench.archives import safe_text

        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {safe_text(message)} (see {self.prog} --help).\n")


def _whole_number(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {value}")
        return value

    parse.__name__ = f"whole number >= {minimum}"
    return parse


def _seconds(text: str) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive, finite number of seconds, not {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="trt-workbench",
        description="From an ONNX model to a fast, accurate TensorRT engine: inspect, diagnose, fix, build, compare.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "summary", help="what a model is: inputs, outputs, dynamic dims, opsets, operators, size"
    )
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_summary)

    def add_check_args(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--backend",
            default="auto",
            choices=["auto", "tensorrt", "tensorrt-rtx"],
            help="which TensorRT parses (default: full TensorRT if installed, else TensorRT-RTX)",
        )
        p.add_argument(
            "--build-check", action="store_true", help="after a successful parse, build the network once"
        )
        p.add_argument(
            "--target",
            help="compute capability for TensorRT-RTX's ahead-of-time build, e.g. sm89 (default: the GPU's, else sm89)",
        )
        p.add_argument(
            "--shapes",
            action="append",
            metavar="NAME:MIN,OPT,MAX",
            help="input shapes in trtexec syntax (one shape = static); repeat per input",
        )
        p.add_argument(
            "--input-value",
            action="append",
            metavar="NAME=JSON",
            help="a value for an input TensorRT needs constant, e.g. axes=[1,2]",
        )
        p.add_argument(
            "--timeout",
            type=_seconds,
            default=600.0,
            help="seconds before a parse or build is stopped (default: %(default)s)",
        )
        p.add_argument(
            "--no-cache",
            dest="cache",
            action="store_false",
            help="run the build check even if the same model, backend, target and shapes were checked before",
        )
        p.add_argument("--json", action="store_true", help="print JSON")

    observed_help = (
        "request shapes seen in serving, one per line (image:1x3x640x960) or a JSON list of such "
        "strings or {name: dims} objects: suggests how many profiles and their min/opt/max, used when "
        "no --shapes are given"
    )
    p = sub.add_parser(
        "diagnose", help="why TensorRT's ONNX parser (or builder) rejects a model, node by node, with fixes"
    )
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("-o", "--output", help="workspace folder to keep the diagnosis in (for a report)")
    add_check_args(p)
    p.add_argument("--observed-shapes", metavar="FILE", help=observed_help)
    p.set_defaults(func=cmd_diagnose)

    p = sub.add_parser("fix", help="apply graph-surgeon fixes until TensorRT accepts the model")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("-o", "--output", required=True, help="where to write the fixed model")
    p.add_argument(
        "--auto",
        action="store_true",
        help="apply the top-ranked fixes until the model parses (and builds) or nothing applies",
    )
    p.add_argument(
        "--apply",
        action="append",
        metavar="ID",
        help="apply this fix (repeatable, in order); see `trt-workbench fixes`",
    )
    p.add_argument("--script", help="also write a standalone Python script that reproduces the fixes")
    p.add_argument("--target-opset", type=_whole_number(1), help="opset for convert-opset (default 17)")
    p.add_argument("--node", help="node for extract-failing-subgraph (default: the first failing node)")
    p.add_argument("--workspace", help="workspace folder to keep the fix history in (for a report)")
    add_check_args(p)
    p.set_defaults(func=cmd_fix)

    p = sub.add_parser(
        "build",
        help="build engines for a matrix of precisions (and shape profiles), isolated, parallel and cached",
    )
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument(
        "--precision",
        default="fp32",
        help="comma-separated: fp32, tf32, fp16, bf16, int8, fp8 (default: %(default)s)",
    )
    p.add_argument(
        "--calib",
        help="calibration data for int8/fp8: .npz keyed by input name, .npy, or a folder/zip of images",
    )
    p.add_argument(
        "--synthetic-calib",
        action="store_true",
        help="calibrate on random data (a smoke test: the scales mean nothing)",
    )
    p.add_argument(
        "--calibrator",
        default="entropy",
        choices=["entropy", "max"],
        help="INT8 calibration method (FP8 always uses max)",
    )
    p.add_argument(
        "--shapes",
        action="append",
        metavar="NAME:MIN,OPT,MAX",
        help="optimization profile in trtexec syntax (one shape = static); repeat per input",
    )
    p.add_argument(
        "--extra-profile",
        action="append",
        metavar="'NAME:MIN,OPT,MAX;...'",
        help="another optimization profile in the same engine",
    )
    p.add_argument("--observed-shapes", metavar="FILE", help=observed_help)
    p.add_argument(
        "--target",
        help="compute capability for TensorRT-RTX, e.g. sm89, or a list (sm80,sm86,sm89: one engine per "
        "target, built in parallel; across a cluster with --cluster) (default: the GPU's, else sm89)",
    )
    p.add_argument(
        "--keep-precision",
        action="append",
        metavar="NODE",
        help="ONNX node to keep in FP32 (mixed precision); repeatable",
    )
    p.add_argument("--backend", default="auto", choices=["auto", "tensorrt", "tensorrt-rtx"])
    from workbench.build_options import add_arguments as add_build_options

    add_build_options(p)  # --opt-level, --workspace-mib, --no-timing-cache, ... (one table)
    p.add_argument(
        "-o",
        "--output",
        help="workspace folder for models, transforms, engines and the index (default: the user's cache)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("calib-check", help="check calibration data against the model before calibrating")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("data", help=".npz keyed by input name, .npy, or a folder/zip of images")
    p.add_argument(
        "--compare-calibrators",
        action="store_true",
        help="quantize with entropy and with max and compare both with FP32 (ONNX Runtime, CPU)",
    )
    p.add_argument("--shapes", action="append", metavar="NAME:MIN,OPT,MAX")
    p.add_argument("--extra-profile", action="append")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_calib_check)

    def add_accuracy_args(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--calib", help="calibration data for int8/fp8 (.npz keyed by input name, .npy, images)"
        )
        p.add_argument(
            "--synthetic-calib", action="store_true", help="calibrate on random data (a smoke test)"
        )
        p.add_argument("--calibrator", default="entropy", choices=["entropy", "max"])
        p.add_argument(
            "--inputs",
            help="inputs to compare on (.npz keyed by input name); default: random data matched to the calibration statistics",
        )
        p.add_argument(
            "--shapes", action="append", metavar="NAME:DIMS", help="input shapes for dynamic models"
        )
        p.add_argument(
            "--tolerance",
            action="append",
            metavar="METRIC=VALUE",
            help="e.g. cosine=0.999 or max_abs=0.05 (max_abs, mean_abs, rel, cosine, snr_db, top1)",
        )
        p.add_argument("--samples", type=_whole_number(1), default=4, help="samples to compare on (default: %(default)s)")
        p.add_argument(
            "-o",
            "--output",
            help="workspace folder to keep transforms and results in (default: the user's cache)",
        )
        p.add_argument("--json", action="store_true")

    p = sub.add_parser("compare", help="output accuracy (and layerwise drift) of each precision against FP32")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--precision", required=True, help="comma-separated, e.g. int8,fp16")
    p.add_argument(
        "--layerwise", action="store_true", help="compare every tensor of the graph, not only the outputs"
    )
    add_accuracy_args(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser(
        "keep-precision", help="find nodes to keep in higher precision so a quantized model meets a tolerance"
    )
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument(
        "--precision", default="int8", help="a quantized precision (int8, fp8): the search re-quantizes with nodes kept high"
    )
    p.add_argument("--max-trials", type=_whole_number(1), default=12)
    add_accuracy_args(p)
    p.set_defaults(func=cmd_keep_precision)
    add_evaluation_parsers(sub, p)

    p = sub.add_parser(
        "profile",
        help="latency statistics and per-layer times (ONNX Runtime on the CPU, or TensorRT on a GPU)",
    )
    p.add_argument("model", help="an .onnx model (ONNX Runtime) or an engine file (TensorRT, needs a GPU)")
    p.add_argument("--backend", choices=["onnxruntime", "tensorrt"])
    p.add_argument("--iterations", type=_whole_number(1), default=50)
    p.add_argument("--warmup", type=_whole_number(0), default=5)
    p.add_argument("--shapes", action="append", metavar="NAME:DIMS", help="input shapes for dynamic models")
    p.add_argument("--samples", action="store_true", help="include every latency sample in the JSON")
    p.add_argument(
        "--optimization",
        choices=["all", "extended", "basic", "disabled"],
        default="all",
        help="ONNX Runtime graph optimisation of the profiled session (default: all, the one whose "
        "latency is shown; basic keeps every ONNX node as its own row, at a latency users do not get)",
    )
    p.add_argument("-o", "--output", help="workspace folder to keep the profile in (for a report)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_profile)

    p = sub.add_parser(
        "report",
        help="a self-contained HTML report (and JSON bundle) of a workspace, with reproduction commands",
    )
    p.add_argument("workspace", help="the app's workspace, or a folder that build/compare/diagnose -o wrote")
    p.add_argument(
        "-o", "--output", default="report.html", help="the HTML file to write (default: %(default)s)"
    )
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("fixes", help="list the fixes the workbench knows")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_fixes)

    p = sub.add_parser("ui", help="open the workbench in the browser (Streamlit)")
    p.add_argument(
        "--sample", default="resnet_cnn.onnx", help="bundled sample model to open (default: %(default)s)"
    )
    p.add_argument(
        "--port",
        type=int,
        default=None,
        help="port to serve on (default: 8501, or the next free one when 8501 is taken)",
    )
    p.add_argument("--address", default="localhost", help="address to listen on (default: %(default)s)")
    p.add_argument(
        "--headless",
        action="store_true",
        help="never open a browser (without it, one opens only where there is a terminal and a display)",
    )
    p.set_defaults(func=cmd_ui)

    p = sub.add_parser(
        "engine", help="explore TensorRT engines exported with trtexec on any GPU (layers, precisions, times)"
    )
    engine = p.add_subparsers(dest="engine_command", metavar="ACTION")
    engine_parser = p

    def engine_usage(_args: argparse.Namespace) -> int:
        engine_parser.print_help()
        return EXIT_BAD_INPUT

    p.set_defaults(func=engine_usage)
    export_help = (
        "a trtexec --exportLayerInfo file (X.engine.graph.json; its --exportProfile/--exportTimes "
        "siblings are found by name), a folder, or a .zip of several engines' exports"
    )
    for action, helptext in (
        ("show", "one engine: per-layer type, precision, time and ONNX nodes; latency and throughput"),
        ("compare", "two or more engines layer by layer: what fused differently, where INT8 is slower than FP16"),
    ):
        q = engine.add_parser(action, help=helptext)
        if action == "show":
            q.add_argument("export", help=export_help)
            q.add_argument("--profile", help="the --exportProfile file, when not named as trtexec names it")
            q.add_argument("--timing", help="the --exportTimes file, when not named as trtexec names it")
            q.set_defaults(func=cmd_engine_show)
        else:
            q.add_argument("exports", nargs="+", help=export_help)
            q.set_defaults(func=cmd_engine_compare)
        q.add_argument("--onnx", help="the ONNX model the engines were built from, to map layers to its nodes")
        q.add_argument("--top", type=_whole_number(1), default=15, help="layers/rows listed in text (default: %(default)s)")
        q.add_argument("-o", "--output", help="workspace folder to keep the reports in (for `report`)")
        q.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser(
        "compat",
        help="which TensorRT-RTX (or TensorRT) versions parse and build this model, and what differs between them",
    )
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument(
        "--versions",
        default="1.4,1.5,1.6,1.7",
        metavar="SPEC[,SPEC...]",
        help="versions to try, each in its own managed environment: 1.6 (newest 1.6.x), 1.6.1.120, "
        "or a pip requirement such as tensorrt-rtx==1.6.1.120 (default: %(default)s)",
    )
    p.add_argument("--backend", choices=["tensorrt-rtx", "tensorrt"], default="tensorrt-rtx")
    p.add_argument("--env", action="append", metavar="PATH", help="also an existing environment or Python with the backend")
    p.add_argument(
        "--build-check",
        action="store_true",
        help="also build an engine with each version (layer count, precision mix, fusions, engine size)",
    )
    p.add_argument("--target", help="compute capability for TensorRT-RTX's build check (default: sm89)")
    p.add_argument("--shapes", action="append", metavar="NAME:MIN,OPT,MAX")
    p.add_argument("--cuda", metavar="VERSION", help="the CUDA of the deployment: warn about versions built for another")
    p.add_argument("--driver", metavar="VERSION", help="the NVIDIA driver of the deployment: warn when it is too old")
    p.add_argument(
        "--try-fixes",
        action="store_true",
        help="for a version that does not parse the model, apply the fixes for its errors and parse again in it",
    )
    p.add_argument("--input-value", action="append", metavar="NAME=JSON", help="an input's value (for set-input-constant)")
    p.add_argument(
        "--export",
        metavar="DIR",
        help="write requirements.lock, Dockerfile and check.py for each version into DIR/<backend>-<version>/",
    )
    p.add_argument("--no-cache", action="store_true", help="check again even if the same check was done before")
    p.add_argument("--timeout", type=_seconds, default=600.0)
    p.add_argument("-o", "--output", help="workspace folder to keep the report in")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_compat)

    from workbench.cluster_commands import add_commands as add_cluster_commands

    add_cluster_commands(sub)

    # Every command that runs tasks can run them on a Ray cluster.
    for name, command_parser in sub.choices.items():
        if name in _TASK_COMMANDS:
            command_parser.add_argument(
                "--cluster",
                metavar="ADDRESS",
                help="run tasks on this Ray cluster (HOST:6379, ray://HOST:10001, or local); "
                "default: $TRT_WORKBENCH_CLUSTER, else this machine",
            )

    p = sub.add_parser("env", help="installed backends and versions, and the GPU if any")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_env)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    from workbench.errors import WorkbenchError

    try:
        _resolve_sample_names(args)
        return _run_guarded(func, args)
    except WorkbenchError as exc:
        from workbench.archives import safe_text

        # A file name may hold a newline or a terminal escape: never print it raw.
        print(f"trt-workbench: error: {safe_text(exc.message)}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly.
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        print("trt-workbench: cancelled", file=sys.stderr)
        return 130


#: Commands that run tasks (parse, build, transform, profile): they take --cluster.
_TASK_COMMANDS = (
    "diagnose", "fix", "build", "calib-check", "compare", "keep-precision", "profile", "compat", "evaluate", "calib-study",
    "sweep",
)
#: Commands whose -o/--output (or --workspace) names a workspace folder they add to.
_WORKSPACE_COMMANDS = (
    "build", "compare", "keep-precision", "profile", "diagnose", "engine", "compat", "evaluate", "calib-study", "sweep"
)


class _Terminated(Exception):
    """SIGTERM, turned into an exception so that staged work is undone on the way out."""


def _run_guarded(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command so that a failure leaves the workspace it names as it was.

    A refusal (exit 2), an exception, Ctrl+C or SIGTERM rolls back what the command added;
    so does a command that made nothing it was asked for (it sets ``args.rollback``).
    """
    import signal
    from pathlib import Path

    from workbench.workspace import transaction

    folder = getattr(args, "output", None) if args.command in _WORKSPACE_COMMANDS else None
    folder = folder or (getattr(args, "workspace", None) if args.command == "fix" else None)

    def terminate(signum: int, frame: Any) -> None:
        raise _Terminated

    if hasattr(args, "cluster"):
        from workbench.executors import apply_cluster_option

        apply_cluster_option(args.cluster)
    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        with transaction(Path(folder) if folder else None) as txn:
            code = func(args)
            if txn is not None and (code == EXIT_BAD_INPUT or getattr(args, "rollback", False)):
                txn.rollback()
            return code
    except _Terminated:
        print("trt-workbench: terminated; nothing it was making was kept", file=sys.stderr)
        return 143
    finally:
        signal.signal(signal.SIGTERM, previous)


def _resolve_sample_names(args: argparse.Namespace) -> None:
    """``MODEL`` may name a bundled sample (``sample:NAME``, or a bare name with no such file)."""
    import os

    model = getattr(args, "model", None)
    if not isinstance(model, str) or os.path.exists(model):
        return  # the common case costs one stat, and no import
    from workbench.samples import resolve_model_argument

    args.model, notice = resolve_model_argument(model)
    if notice:
        print(f"trt-workbench: {notice}", file=sys.stderr)


def entry_point() -> None:
    """The ``trt-workbench`` console script: :func:`main`, then a quick exit.

    Exit handlers run (worker pools close, forked children are reaped, temporary files go),
    but the interpreter's slow module-by-module teardown of onnx, numpy and protobuf is
    skipped: a one-shot command has nothing left to tidy once its output is flushed.
    """
    import atexit
    import os

    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass
    atexit._run_exitfuncs()
    os._exit(code)


if __name__ == "__main__":
    raise SystemExit(main())
