"""One rule for dynamic dims (``shapes.concrete_shapes``) with one notice in every command's
JSON, and optimization profiles suggested from observed request shapes (real CLI, real builds)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from conftest import files_under, requires_rtx, run_cli, sample

from workbench.errors import WorkbenchError
from workbench.shapes import (
    InputShape,
    concrete_shapes,
    load_observed_shapes,
    parse_observed_shapes,
    suggest_profiles,
)

NOTICE = "dynamic dims defaulted to 1: input[0]=batch; give the shapes you serve with --shapes NAME:DIMS."


# ----------------------------------------------------------------------------- concrete_shapes


def test_concrete_shapes_defaults_every_dynamic_dim_to_one_and_says_which() -> None:
    inputs = [
        InputShape("tokens", ["batch", "sequence"]),
        InputShape("image", [None, 3, "unk__7", -1]),
        InputShape("scale", []),
        InputShape("unknown", None),
    ]
    shapes, notes = concrete_shapes(inputs)
    assert shapes == {"tokens": [1, 1], "image": [1, 3, 1, 1], "scale": []}
    assert notes == [
        "dynamic dims defaulted to 1: tokens[0]=batch, tokens[1]=sequence, image[0]=?, image[2]=?, "
        "image[3]=?; give the shapes you serve with --shapes NAME:DIMS."
    ]
    # Given shapes win: a --shapes triple runs at its opt shape, plain dims as they are.
    shapes, notes = concrete_shapes(inputs, {"tokens": [[1, 8], [2, 16], [4, 32]], "image": [1, 3, 64, 64]})
    assert shapes["tokens"] == [2, 16] and shapes["image"] == [1, 3, 64, 64]
    assert notes == []
    # A dynamic batch can take another size (compare runs its samples along it).
    shapes, notes = concrete_shapes(inputs[:1], batch=4)
    assert shapes == {"tokens": [4, 1]}
    assert notes == [
        "dynamic dims defaulted to 4: tokens[0]=batch; to 1: tokens[1]=sequence; "
        "give the shapes you serve with --shapes NAME:DIMS."
    ]


# ----------------------------------------------------------------------------- suggest_profiles


def _ocr_requests(count: int = 3000, seed: int = 0) -> list[dict[str, list[int]]]:
    """An OCR text detector's traffic: phone photos at 640-800 px (70%) and scans at
    960-1280 px (30%), heights and widths multiples of 32, never square on purpose."""
    rng = random.Random(seed)
    requests = []
    for _ in range(count):
        low, high = (640, 800) if rng.random() < 0.7 else (960, 1280)
        height = rng.randrange(low, high + 1, 32)
        width = rng.randrange(low, high + 1, 32)
        requests.append({"image": [1, 3, height, width]})
    return requests


def _inside(request: dict[str, list[int]], profile: dict[str, list[list[int]]]) -> bool:
    return all(
        all(lo <= d <= hi for d, lo, hi in zip(dims, profile[name][0], profile[name][2]))
        for name, dims in request.items()
    )


def test_bimodal_ocr_traffic_gets_two_profiles_that_cover_every_request() -> None:
    requests = _ocr_requests()
    suggestion = suggest_profiles(requests)
    assert len(suggestion.profiles) == 2, suggestion.reasons
    small, large = suggestion.profiles
    assert small["image"][0] == [1, 3, 640, 640] and small["image"][2] == [1, 3, 800, 800]
    assert large["image"][0] == [1, 3, 960, 960] and large["image"][2] == [1, 3, 1280, 1280]
    assert all(any(_inside(r, p) for p in suggestion.profiles) for r in requests)
    for profile in suggestion.profiles:  # opt is a real shape inside the profile
        lo, opt, hi = profile["image"]
        assert all(a <= b <= c for a, b, c in zip(lo, opt, hi))
    assert suggestion.shares[0] == pytest.approx(0.7, abs=0.03)
    assert sum(suggestion.shares) == pytest.approx(1.0)
    assert suggestion.reasons[0].startswith(
        "2 profiles: image[2,3] 640-800 (70% of requests) and image[2,3] 960-1280"
    )
    assert "no requests between image[2] 800 and 960" in suggestion.reasons[1]
    low, _, high = suggestion.covering["image"]
    assert low == [1, 3, 640, 640] and high == [1, 3, 1280, 1280]
    assert suggestion.flags()[0].startswith("--shapes image:1x3x640x640,")
    assert suggestion.flags()[1].startswith("--extra-profile 'image:1x3x960x960,")
    # The record is JSON like every result.
    assert type(suggestion).from_json(suggestion.to_json()) == suggestion


def test_one_spread_and_a_varying_batch_stay_one_profile() -> None:
    rng = random.Random(1)
    even = [
        {"image": [1, 3, rng.randrange(640, 1281, 32), rng.randrange(640, 1281, 32)]} for _ in range(2000)
    ]
    suggestion = suggest_profiles(even)
    assert len(suggestion.profiles) == 1, suggestion.reasons
    assert "no dim's sizes fall into separate groups" in suggestion.reasons[1]
    assert all(_inside(r, suggestion.profiles[0]) for r in even)
    # Batches 1..32 vary inside one profile, opt at the median batch.
    batches = [{"input": [rng.choice([1, 2, 4, 8, 16, 32]), 3, 224, 224]} for _ in range(600)]
    suggestion = suggest_profiles(batches)
    assert len(suggestion.profiles) == 1
    assert suggestion.profiles[0]["input"][0] == [1, 3, 224, 224]
    assert suggestion.profiles[0]["input"][2] == [32, 3, 224, 224]
    # The same shape every time: one static profile.
    same = suggest_profiles([{"input": [8, 3, 224, 224]}] * 5)
    assert same.profiles == [{"input": [[8, 3, 224, 224]] * 3}]
    assert "static" in same.reasons[0]


def test_three_sequence_groups_and_max_profiles() -> None:
    rng = random.Random(2)
    requests = []
    for _ in range(3000):
        r = rng.random()
        top = 128 if r < 0.5 else (512 if r < 0.8 else 2048)
        requests.append({"ids": [rng.choice([1, 2, 4]), rng.randrange(top // 2, top + 1, 16)]})
    suggestion = suggest_profiles(requests)
    assert len(suggestion.profiles) == 3, suggestion.reasons
    assert all(any(_inside(r, p) for p in suggestion.profiles) for r in requests)
    capped = suggest_profiles(requests, max_profiles=2)
    assert len(capped.profiles) == 2
    assert all(any(_inside(r, p) for p in capped.profiles) for r in requests)
    assert any("joined their nearest neighbour" in reason for reason in capped.reasons)


def test_observed_shapes_files_text_and_json(tmp_path: Path) -> None:
    text = tmp_path / "requests.log"
    text.write_text("# shapes seen on the server\nimage:1x3x640x960\n\nimage:1x3x736x1280  # a scan\n")
    assert load_observed_shapes(text) == [{"image": [1, 3, 640, 960]}, {"image": [1, 3, 736, 1280]}]
    several = parse_observed_shapes("ids:1x128,mask:1x128\nids:2x64 mask:2x64\n")
    assert several == [{"ids": [1, 128], "mask": [1, 128]}, {"ids": [2, 64], "mask": [2, 64]}]
    as_json = tmp_path / "requests.json"
    as_json.write_text(
        json.dumps(["image:1x3x640x960", {"image": [1, 3, 800, 800]}, {"image": "1x3x960x960"}])
    )
    assert [r["image"][2] for r in load_observed_shapes(as_json)] == [640, 800, 960]
    for content, words in [
        ("", "holds no shapes"),
        ("image 1x3", "is not NAME:DIMS"),
        ("image:1xQ", "has bad dims"),
        ("image:1x3\nimage:1x3x4", "rank 3 but the first request gives it rank 2"),
        ("image:1x3\nother:1x3", "every request must give the same inputs"),
        ("[1, 2", "is not valid JSON"),
        ('{"image": [1, 3]}', "not a list of requests"),
        ("[[1, 3]]", "neither a shape string nor"),
    ]:
        with pytest.raises(WorkbenchError) as info:
            parse_observed_shapes(content, "requests.txt")
        assert words in info.value.message, info.value.message


# ----------------------------------------------------------------------------- the CLI


@requires_rtx
def test_build_with_observed_shapes_builds_the_suggested_profiles(tmp_path: Path) -> None:
    rng = random.Random(3)
    lines = []
    for _ in range(400):  # chat turns (16-64 tokens) and documents (256-512), batch 1 or 2
        low, high, step = (16, 64, 8) if rng.random() < 0.7 else (256, 512, 32)
        lines.append(f"hidden_states:{rng.choice([1, 2])}x{rng.randrange(low, high + 1, step)}x64")
    observed = tmp_path / "observed.txt"
    observed.write_text("\n".join(lines) + "\n")
    out = tmp_path / "ws"
    result = run_cli(
        "build",
        str(sample("transformer_encoder.onnx")),
        "--observed-shapes",
        str(observed),
        "-o",
        str(out),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    suggestion = payload["profile_suggestion"]
    assert suggestion["used"] is True and "No --shapes given" in suggestion["note"]
    assert len(suggestion["profiles"]) == 2, suggestion["reasons"]
    (build,) = payload["builds"]
    assert build["ok"], build["error"]
    assert build["config"]["profiles"] == suggestion["profiles"]
    assert build["shapes"] == suggestion["profiles"]
    assert Path(build["engine_path"]).is_file()
    # Every observed request fits a profile of the engine that was built.
    requests = [{"hidden_states": [int(d) for d in line.split(":")[1].split("x")]} for line in lines]
    assert all(any(_inside(r, p) for p in build["shapes"]) for r in requests)
    # The text view says what it suggested and that it used it.
    text = run_cli(
        "build", str(sample("transformer_encoder.onnx")), "--observed-shapes", str(observed), "-o", str(out)
    )
    assert text.returncode == 0, text.stderr
    assert "Profiles suggested from the observed shapes:" in text.stdout
    assert "2 profiles: hidden_states[0] 1-2, hidden_states[1] 16-64" in text.stdout
    assert "No --shapes given: built with the suggested profiles." in text.stdout
    assert "(cached)" in text.stdout


@requires_rtx
def test_given_shapes_win_over_observed_ones_and_diagnose_checks_their_cover(tmp_path: Path) -> None:
    observed = tmp_path / "observed.txt"
    observed.write_text("hidden_states:1x16x64\nhidden_states:2x32x64\nhidden_states:1x480x64\n" * 5)
    result = run_cli(
        "build",
        str(sample("transformer_encoder.onnx")),
        "--observed-shapes",
        str(observed),
        "--shapes",
        "hidden_states:1x8x64,1x8x64,1x8x64",
        "-o",
        str(tmp_path / "ws"),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["profile_suggestion"]["used"] is False
    assert payload["builds"][0]["shapes"] == [{"hidden_states": [[1, 8, 64]] * 3}]
    diagnosed = run_cli(
        "diagnose",
        str(sample("transformer_encoder.onnx")),
        "--observed-shapes",
        str(observed),
        "--build-check",
        "--json",
    )
    assert diagnosed.returncode == 0, diagnosed.stderr
    diagnosis = json.loads(diagnosed.stdout)
    assert diagnosis["build_ok"] is True
    assert diagnosis["profile"]["shapes"]["hidden_states"][0] == [1, 16, 64]
    assert diagnosis["profile"]["shapes"]["hidden_states"][2] == [2, 480, 64]
    assert diagnosis["profile"]["assumed"] == []
    assert diagnosis["profile_suggestion"]["used"] is True
    assert "one profile covering every observed shape" in diagnosis["profile_suggestion"]["note"]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("hidden_states:1x8\n", "rank 2; the model's input has rank 3"),
        ("tokens:1x8x64\n", "names 'tokens', which is not an input of the model"),
        ("hidden_states:1x8x32\n", "axis 2 = 32; the model fixes it to 64"),
        ("hidden_states=1x8x64\n", "is not NAME:DIMS"),
        ("", "holds no shapes"),
    ],
)
def test_bad_observed_shapes_are_one_sentence_and_exit_2(tmp_path: Path, content: str, words: str) -> None:
    observed = tmp_path / "observed.txt"
    observed.write_text(content)
    out = tmp_path / "ws"
    for command in ("build", "diagnose"):
        args = [command, str(sample("transformer_encoder.onnx")), "--observed-shapes", str(observed)]
        result = run_cli(*args, *(["-o", str(out)] if command == "build" else []))
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0], result.stderr
        assert "Traceback" not in result.stderr
    assert files_under(out) == []
    missing = run_cli(
        "build", str(sample("transformer_encoder.onnx")), "--observed-shapes", str(tmp_path / "no.txt")
    )
    assert missing.returncode == 2 and "no such file" in missing.stderr


@requires_rtx
def test_compare_profile_and_diagnose_give_the_same_notice(tmp_path: Path) -> None:
    model = str(sample("resnet_cnn.onnx"))
    compared = run_cli(
        "compare", model, "--precision", "fp32", "--samples", "1", "-o", str(tmp_path / "c"), "--json"
    )
    assert compared.returncode == 0, compared.stderr
    comparison = json.loads(compared.stdout)
    assert comparison["inputs"] == {"input": [1, 3, 224, 224]}
    assert comparison["input_source"].endswith("; " + NOTICE)
    profiled = run_cli("profile", model, "--iterations", "5", "--warmup", "1", "--json")
    assert profiled.returncode == 0, profiled.stderr
    profile = json.loads(profiled.stdout)
    assert profile["input_shapes"] == {"input": [1, 3, 224, 224]}
    assert NOTICE in profile["notes"]
    diagnosed = run_cli("diagnose", model, "--build-check", "--no-cache", "--json")
    assert diagnosed.returncode == 0, diagnosed.stderr
    diagnosis = json.loads(diagnosed.stdout)
    assert diagnosis["profile"]["shapes"] == {"input": [[1, 3, 224, 224]] * 3}
    assert diagnosis["profile"]["notes"] == [NOTICE]
    # The text views say it too.
    text = run_cli("diagnose", model, "--build-check")
    assert f"note: {NOTICE}" in text.stdout
    # compare's dynamic batch carries its samples, and says so in the same words.
    four = run_cli("compare", model, "--precision", "fp32", "-o", str(tmp_path / "c"), "--json")
    assert four.returncode == 0, four.stderr
    assert json.loads(four.stdout)["input_source"].endswith(
        "; dynamic dims defaulted to 4: input[0]=batch; give the shapes you serve with --shapes NAME:DIMS."
    )
    # Shapes given: no notice anywhere.
    given = run_cli(
        "profile", model, "--iterations", "5", "--warmup", "1", "--shapes", "input:2x3x224x224", "--json"
    )
    assert not any(n.startswith("dynamic dims defaulted") for n in json.loads(given.stdout)["notes"])
    diagnosed = run_cli(
        "diagnose", model, "--build-check", "--shapes", "input:1x3x224x224,2x3x224x224,4x3x224x224", "--json"
    )
    assert "notes" not in json.loads(diagnosed.stdout)["profile"]
