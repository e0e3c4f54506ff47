"""Per-trainee progress in `<data_dir>/study.sqlite`: attempts recorded, weak sections favoured,
missed items listed for 「再练错题」, stale progress pruned, several UI threads writing at once."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from pathlib import Path

import pytest

from settings import Settings
from study.items import Item, ItemSource, StudyError, generate, item_pool
from study.progress import (
    check_user,
    missed_ids,
    prune,
    record,
    section_weights,
    store_path,
    summary,
    users,
    weigher,
)


def item(n: int, section: str = "第一章 总则 > 第一条", doc_id: str = "doc-a", doc: str = "a.md") -> Item:
    """A hand-made item: progress needs only an id, a type and where it comes from."""
    passage = f"医疗机构应当在{n}小时内报告。"
    source = ItemSource(doc=doc, title=f"{doc} 标题", section_path=section, page=None, passage=passage,
                        span=(7, 7 + len(str(n)) + 2), doc_id=doc_id, chunk_id=f"{doc_id}:0")
    return Item(id=f"{doc_id}-{n}", type="cloze", prompt="医疗机构应当在____内报告。", answer=f"{n}小时",
                source=source, kind="deadline")


@pytest.fixture
def study_settings(base_settings: Settings, tmp_path: Path) -> Settings:
    return base_settings.model_copy(update={"data_dir": tmp_path / "data"})


def test_attempts_summary_and_missed_items_per_user(study_settings: Settings) -> None:
    s = study_settings
    a1, a2, b1 = item(1), item(2), item(3, section="第二章 > 第九条")
    record(s, "张三", a1, False, "12小时")
    record(s, "张三", a2, True, "2小时")
    record(s, "张三", b1, False, "")
    record(s, "张三", a1, True, "1小时")  # retried: right now, no longer missed
    record(s, " 李四 ", a2, False)  # another trainee, stripped name

    assert missed_ids(s, "张三") == [b1.id]
    assert missed_ids(s, "李四") == [a2.id]
    assert missed_ids(s, "王五") == []

    total = summary(s, "张三")
    assert (total.attempts, total.correct, total.items_seen, total.missed) == (4, 2, 3, 1)
    assert total.accuracy == 0.5 and total.label == "已答 4 题，答对 2 题（50%），待复习 1 题"
    assert [(x.section_path, x.attempts, x.correct) for x in total.sections] == [
        ("第二章 > 第九条", 1, 0), ("第一章 总则 > 第一条", 3, 2)]  # weakest first
    data = total.to_json()
    assert data["user"] == "张三" and data["sections"][0]["accuracy"] == 0.0
    assert data["sections"][0]["title"] == "a.md 标题"
    assert summary(s, "王五").label == "尚无答题记录"
    assert users(s) == ["李四", "张三"]


def test_weigher_favours_missed_sections_and_demotes_items_answered_right(study_settings: Settings) -> None:
    s = study_settings.model_copy(update={"study": study_settings.study.model_copy(
        update={"weak_weight": 3.0, "seen_weight": 0.5})})
    weak, half, new = item(1, "甲"), item(2, "乙"), item(3, "丙")
    half_other = item(4, "乙")
    record(s, "张三", weak, False)
    record(s, "张三", half, True)
    record(s, "张三", half_other, False)

    weigh = weigher(s, "张三")
    assert weigh(weak) == pytest.approx(3.0)  # always missed: the full weak_weight
    assert weigh(half) == pytest.approx(2.0 * 0.5)  # half missed section, this item already right
    assert weigh(half_other) == pytest.approx(2.0)
    assert weigh(new) == 1.0  # a section never answered
    assert weigher(s, "李四")(weak) == 1.0  # progress is per trainee
    assert section_weights(s, "张三") == {weak.section_key: 3.0, half.section_key: 2.0}

    record(s, "张三", weak, True)  # practised right once: still weak, less so, and this item seen
    assert weigher(s, "张三")(weak) == pytest.approx((1 + 2 * 0.5) * 0.5)


def test_names_are_checked(study_settings: Settings) -> None:
    assert check_user("  张三\n") == "张三"
    for bad, message in [("", "请先填写姓名（学习进度按姓名保存）"), ("   ", "请先填写姓名（学习进度按姓名保存）"),
                         ("张" * 41, "姓名过长：41 个字符，最多 40 个"), ("张\x00三", "姓名不能包含控制字符")]:
        with pytest.raises(StudyError) as exc:
            check_user(bad)
        assert str(exc.value) == message
    assert check_user("张" * 40) == "张" * 40
    with pytest.raises(StudyError):
        record(study_settings, "", item(1), True)
    assert not store_path(study_settings).exists()


def test_store_is_one_wal_file_in_the_data_dir_and_reads_create_nothing(study_settings: Settings) -> None:
    s = study_settings
    assert missed_ids(s, "张三") == [] and summary(s, "张三").attempts == 0 and weigher(s, "张三")(item(1)) == 1.0
    assert prune(s, []) == 0
    assert not store_path(s).exists()  # a trainee who never answered leaves no file behind
    record(s, "张三", item(1), True, "1小时")
    assert store_path(s) == s.data_path / "study.sqlite"
    with sqlite3.connect(store_path(s)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT user, item_id, correct, response FROM attempts").fetchall() == [
            ("张三", item(1).id, 1, "1小时")]


def test_prune_drops_progress_on_documents_gone_or_changed(study_settings: Settings) -> None:
    s = study_settings
    kept, gone, dropped_item = item(1, doc_id="doc-a"), item(2, doc_id="doc-old"), item(3, doc_id="doc-a")
    for user in ("张三", "李四"):
        record(s, user, kept, False)
        record(s, user, gone, False)
        record(s, user, dropped_item, False)
    assert prune(s, {"doc-a"}) == 2  # both trainees' rows on the removed (or changed) document
    assert missed_ids(s, "张三") == [kept.id, dropped_item.id]
    assert prune(s, {"doc-a"}, live_item_ids={kept.id}) == 2  # items the generator no longer makes
    assert missed_ids(s, "李四") == [kept.id]
    assert prune(s, {"doc-a"}, live_item_ids={kept.id}) == 0
    assert prune(s, set()) == 2


def test_several_ui_threads_record_at_once_and_nothing_is_lost(study_settings: Settings) -> None:
    s = study_settings
    errors: list[BaseException] = []

    def trainee(k: int) -> None:
        try:
            for n in range(25):
                record(s, f"学员{k}", item(n, section=f"第{n % 5}条"), n % 3 == 0)
                weigher(s, f"学员{k}")  # reading while others write
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=trainee, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for k in range(8):
        got = summary(s, f"学员{k}")
        assert (got.attempts, got.correct, got.items_seen) == (25, 9, 25)
    assert len(users(s)) == 8


def test_a_damaged_store_is_one_message_not_a_traceback(study_settings: Settings) -> None:
    path = store_path(study_settings)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(StudyError) as exc:
        record(study_settings, "张三", item(1), True)
    assert str(exc.value).startswith(f"{path}: 学习进度无法读写（")
    with pytest.raises(StudyError):
        summary(study_settings, "张三")


def test_given_the_pool_weak_sections_hold_weak_share_of_the_weight(study_settings: Settings) -> None:
    s = study_settings.model_copy(update={"study": study_settings.study.model_copy(
        update={"weak_weight": 3.0, "seen_weight": 0.5, "weak_share": 0.3})})
    weak = [item(n, "甲") for n in range(2)]
    others = [item(n, f"第{n}条") for n in range(10, 110)]
    record(s, "张三", weak[0], False)
    record(s, "张三", others[0], True)
    weigh = weigher(s, "张三", pool=[*weak, *others])
    total_weak = sum(weigh(i) for i in weak)
    total = total_weak + sum(weigh(i) for i in others)
    assert total_weak / total == pytest.approx(0.3)
    assert weigh(others[0]) == 0.5 and weigh(others[1]) == 1.0
    small_pool = [*weak, others[1]]  # the plain boost already gives weak sections more than the share
    assert weigher(s, "张三", pool=small_pool)(weak[1]) == pytest.approx(3.0)
    assert weigher(s, "李四", pool=[*weak, *others])(weak[1]) == 1.0


def test_real_draws_favour_the_sections_a_trainee_missed(shipped_settings: Settings, tmp_path: Path) -> None:
    """On the shipped corpus (4,000+ items, 800+ sections) a session brings weak sections back."""
    pool = item_pool(shipped_settings)
    progress_settings = shipped_settings.model_copy(update={"data_dir": tmp_path / "progress"})  # only study.sqlite
    sections: dict[str, list[Item]] = {}
    for it in pool:
        sections.setdefault(it.section_key, []).append(it)
    by_doc: dict[str, str] = {}
    for key in sorted(k for k, items in sections.items() if len(items) >= 4):
        by_doc.setdefault(key.split("\x1f")[0], key)  # one section in each of three documents
    weak = list(by_doc.values())[:3]
    for key in weak:
        for it in sections[key][:2]:
            record(progress_settings, "张三", it, False)

    def weak_drawn(weigh) -> float:
        drawn = [generate(shipped_settings, n=10, seed=seed, weigh=weigh, pool=pool) for seed in range(20)]
        return sum(it.section_key in weak for items in drawn for it in items) / len(drawn)

    plain, favoured = weak_drawn(None), weak_drawn(weigher(progress_settings, "张三", pool=pool))
    assert favoured >= 0.8 and favoured >= 4 * plain, (plain, favoured)  # bench/study.py: 1.50 against 0.00
    assert not (shipped_settings.data_path / "study.sqlite").exists()


def test_progress_on_a_changed_document_is_dropped_and_the_rest_kept(settings: Settings, embedder, tmp_path: Path) -> None:
    from ingest.knowledge_base import KnowledgeBase
    from ingest.pipeline import ingest_paths

    corpus = Path(__file__).resolve().parents[2] / "corpus" / "regulations"
    folder = tmp_path / "docs"
    folder.mkdir()
    names = ["献血法(1997-12-29).md", "郑州市医疗卫生设施规划建设管理条例(2011-10-15).md"]
    for name in names:
        shutil.copy(corpus / name, folder / name)

    def ingest() -> list[Item]:
        kb = KnowledgeBase(settings, embedder)
        try:
            ingest_paths(kb, [folder], show_progress=False)
        finally:
            kb.close()
        return item_pool(settings)

    before = ingest()
    by_doc = {name: [i for i in before if i.source.doc == name] for name in names}
    assert all(by_doc.values()), {n: len(v) for n, v in by_doc.items()}
    changed, kept = by_doc[names[0]][0], by_doc[names[1]][0]
    record(settings, "张三", changed, False)
    record(settings, "张三", kept, False)
    assert prune(settings, {i.source.doc_id for i in before}, {i.id for i in before}) == 0

    path = folder / names[0]
    path.write_text(path.read_text(encoding="utf-8").replace("第一条", "第一条　（修订）", 1), encoding="utf-8")
    after = ingest()
    assert changed.id not in {i.id for i in after} and kept.id in {i.id for i in after}
    assert prune(settings, {i.source.doc_id for i in after}, {i.id for i in after}) == 1
    assert missed_ids(settings, "张三") == [kept.id]
    assert [s.title for s in summary(settings, "张三").sections] == [kept.source.title]
