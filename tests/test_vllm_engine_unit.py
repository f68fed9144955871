"""Pure logic of the vllm engine and the GGUF converter, without vLLM, torch or a model:
model resolution, the conversion cache, and picking the top k out of vLLM's logprob dicts
(stand-in logprob entries, named as fakes)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from loop.engines import ModelNotFoundError
from loop.engines.gguf_convert import MARKER, default_output_dir, ensure_hf_model, is_converted, is_gguf
from loop.engines.vllm_engine import VLLMEngine, resolve_model


@dataclass
class FakeLogprob:  # the shape of vllm.logprobs.Logprob
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


def fake_gguf(path: Path, payload: bytes = b"weights") -> Path:
    path.write_bytes(b"GGUF" + payload)
    return path


def fake_converted(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / MARKER).write_text(json.dumps({"format": 1}))
    return folder


def test_missing_paths_and_bad_folders_are_clear_errors(tmp_path):
    with pytest.raises(ModelNotFoundError, match="not found"):
        resolve_model(tmp_path / "missing.gguf")
    with pytest.raises(ModelNotFoundError, match="not found"):
        resolve_model("./models/nothing-here")
    with pytest.raises(ModelNotFoundError, match="config.json"):
        resolve_model(tmp_path)


def test_folders_and_hub_ids_pass_through(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert resolve_model(tmp_path) == str(tmp_path)
    assert resolve_model("Qwen/Qwen2.5-0.5B-Instruct") == "Qwen/Qwen2.5-0.5B-Instruct"


def test_gguf_detected_by_suffix_or_magic(tmp_path):
    assert is_gguf(fake_gguf(tmp_path / "m.gguf"))
    assert is_gguf(fake_gguf(tmp_path / "model.bin"))
    (tmp_path / "other.bin").write_bytes(b"PK\x03\x04")
    assert not is_gguf(tmp_path / "other.bin")


def test_converted_folder_is_reused_not_rebuilt(tmp_path, monkeypatch):
    gguf = fake_gguf(tmp_path / "m.gguf")
    out = fake_converted(tmp_path / "m-hf")

    def no_conversion(*a, **k):
        raise AssertionError("converted again although the cache holds it")

    monkeypatch.setattr("loop.engines.gguf_convert.convert", no_conversion)
    assert ensure_hf_model(gguf, out) == out
    # a GGUF path given to the engine resolves to its cached folder
    monkeypatch.setenv("FIREASSAY_CACHE_DIR", str(tmp_path / "cache"))
    cached = fake_converted(default_output_dir(gguf))
    assert resolve_model(gguf) == str(cached)


def test_incomplete_folder_is_not_taken_for_a_conversion(tmp_path):
    folder = tmp_path / "half"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    assert not is_converted(folder)  # no marker: an interrupted conversion


def test_cache_folder_depends_on_file_content(tmp_path, monkeypatch):
    monkeypatch.setenv("FIREASSAY_CACHE_DIR", str(tmp_path / "cache"))
    a = default_output_dir(fake_gguf(tmp_path / "a.gguf", b"one"))
    (tmp_path / "b").mkdir()
    b = default_output_dir(fake_gguf(tmp_path / "b" / "a.gguf", b"two"))
    assert a != b and a.parent == b.parent == tmp_path / "cache" / "models"
    assert a == default_output_dir(tmp_path / "a.gguf")


def test_top_entries_drop_the_sampled_token_outside_the_top_k():
    step = {
        5: FakeLogprob(-0.5, rank=1),
        9: FakeLogprob(-1.0, rank=2),
        7: FakeLogprob(-2.0, rank=3),
        3: FakeLogprob(-2.0, rank=4),
        42: FakeLogprob(-2.0, rank=17),  # the sampled token, tied with rank 3 and 4
    }
    assert VLLMEngine._top_entries(step, 4) == [(5, -0.5), (9, -1.0), (7, -2.0), (3, -2.0)]
    assert VLLMEngine._top_entries(step, 2) == [(5, -0.5), (9, -1.0)]
