"""The hand review of practice items (issue 14): 30 items per type, read against their passages, at
least 90% judged well formed per type; and the reviewed items are the ones the generator makes now.

The review lives in tests/data/study_review.jsonl (method and findings: tests/data/study_review.md).
A change to the generation rules changes the drawn items: this test then fails until the new sample
is reviewed again."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from settings import Settings
from study.items import ITEM_TYPES, generate

REVIEW = Path(__file__).resolve().parents[1] / "data" / "study_review.jsonl"
PER_TYPE = 30
SEED = 2026
TARGET = 0.9
FIELDS = {"id", "type", "kind", "prompt", "choices", "answer", "doc", "section_path", "verdict", "note"}


@pytest.fixture(scope="module")
def review() -> list[dict]:
    return [json.loads(line) for line in REVIEW.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_the_review_file_is_complete(review: list[dict]) -> None:
    assert all(set(row) == FIELDS for row in review), "every row holds exactly the review fields"
    assert all(row["verdict"] in ("ok", "bad") for row in review)
    assert all(row["note"].strip() for row in review if row["verdict"] == "bad"), "a bad verdict says why"
    assert len({row["id"] for row in review}) == len(review)
    assert Counter(row["type"] for row in review) == {t: PER_TYPE for t in ITEM_TYPES}


@pytest.mark.parametrize("item_type", ITEM_TYPES)
def test_the_share_judged_well_formed_meets_the_target(review: list[dict], item_type: str) -> None:
    rows = [row for row in review if row["type"] == item_type]
    bad = [f"{row['id']} ({row['kind']}): {row['note']}" for row in rows if row["verdict"] == "bad"]
    share = (len(rows) - len(bad)) / len(rows)
    assert share >= TARGET, f"{item_type}: {share:.0%} judged well formed, below {TARGET:.0%}; bad items:\n" + "\n".join(bad)


@pytest.mark.parametrize("item_type", ITEM_TYPES)
def test_the_reviewed_items_are_what_the_generator_makes(shipped_settings: Settings, review: list[dict], item_type: str) -> None:
    reviewed = {row["id"]: (row["prompt"], row["answer"]) for row in review if row["type"] == item_type}
    drawn = {it.id: (it.prompt, it.answer) for it in generate(shipped_settings, n=PER_TYPE, types=[item_type], seed=SEED)}
    gone = [f"  reviewed, not drawn: {i} {reviewed[i][0][:60]!r}" for i in reviewed if drawn.get(i) != reviewed[i]]
    new = [f"  drawn, not reviewed: {i} {drawn[i][0][:60]!r}" for i in drawn if reviewed.get(i) != drawn[i]]
    assert drawn == reviewed, (
        f"{item_type}: the generator no longer draws the reviewed items (seed {SEED}, n {PER_TYPE}; "
        f"{len(new)} of {len(drawn)} drawn items differ). The generation rules changed: review the new sample "
        f"by hand and rewrite {REVIEW.name} (and study_review.md) before this test can pass.\n" + "\n".join((gone + new)[:10])
    )
