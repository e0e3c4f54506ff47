"""The chat page in headless Chromium: ask, watch the answer stream in, click a citation.

Needs Debian's `chromium` and `chromium-driver` (and `fonts-noto-cjk` for readable screenshots):
    apt-get install -y chromium chromium-driver fonts-noto-cjk
Without them the test fails (it does not skip): the UI is part of the product.
"""

from __future__ import annotations

import re
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the repo's packages, not the namespace dir tests/assistant/

import ui  # noqa: E402
from assistant import Assistant  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOT = REPO / "artifacts" / "ui-answer.png"
QUESTION = "广西有多少家医院纳入千县工程？"

pytestmark = pytest.mark.browser


LAW_QUESTION = "医疗废物集中处置单位应当符合哪些条件？"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser_app(base_settings, embedder, tmp_path_factory):
    """The whole corpus ingested, the app launched; its settings too (the study test reads its items)."""
    data = tmp_path_factory.mktemp("ui-browser-data")
    settings = base_settings.model_copy(update={"data_dir": data})
    assistant = Assistant.from_settings(settings, embedder=embedder)
    report = assistant.add_documents([REPO / "corpus"])
    assert report.failed == 0, report.failures
    app = ui.build_app(assistant)
    app.queue(default_concurrency_limit=settings.ui.concurrency_limit)
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield SimpleNamespace(url=f"http://127.0.0.1:{port}/", settings=settings)
    app.close()


@pytest.fixture(scope="module")
def app_url(browser_app):
    return browser_app.url


@pytest.fixture(scope="module")
def driver():
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not found: install Debian's browser and driver with "
            "`apt-get install -y chromium chromium-driver fonts-noto-cjk`", pytrace=False)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="qianxian-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1400,1000", "--lang=zh-CN", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    drv = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()
    shutil.rmtree(profile, ignore_errors=True)


def in_view(driver, element) -> bool:
    """Fully visible in the window and inside its scrolling sources panel."""
    return driver.execute_script(
        """
        const el = arguments[0], r = el.getBoundingClientRect();
        const panel = document.getElementById('sources-panel');
        const p = panel ? panel.getBoundingClientRect() : {top: 0, bottom: window.innerHeight};
        const top = Math.max(0, p.top), bottom = Math.min(window.innerHeight, p.bottom);
        return r.height > 0 && r.top >= top - 1 && r.bottom <= bottom + 1;
        """,
        element,
    )


def test_ask_stream_and_click_citation(app_url, driver):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(app_url)
    box = WebDriverWait(driver, 60).until(lambda d: d.find_element(By.CSS_SELECTOR, "#question-box textarea"))
    assert "千县工程政策问答助手" in driver.page_source
    box.send_keys(QUESTION)
    driver.find_element(By.ID, "send-button").click()

    # the final render carries the timing line and citation links; streaming shows neither
    WebDriverWait(driver, 90).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#chat .answer-meta")
        and d.find_elements(By.CSS_SELECTOR, "#chat a.cite")
        and d.find_elements(By.ID, "source-card-1"))
    chat_text = driver.find_element(By.ID, "chat").text
    assert QUESTION in chat_text
    assert "44" in chat_text and "[1]" in chat_text
    assert "检索到" in chat_text  # the collapsible retrieval step

    # make card 1 scroll out of view first, so the click has to bring it back
    driver.execute_script(
        "const p = document.getElementById('sources-panel'); p.scrollTop = p.scrollHeight;"
        "const c = document.getElementById('source-card-1'); c.classList.remove('highlight');")
    card = driver.find_element(By.ID, "source-card-1")
    assert "44家" in card.text
    assert card.find_elements(By.TAG_NAME, "mark")

    link = driver.find_element(By.CSS_SELECTOR, '#chat a.cite[href="#source-card-1"]')
    link.click()
    WebDriverWait(driver, 10).until(lambda d: "highlight" in card.get_attribute("class").split())
    WebDriverWait(driver, 10).until(lambda d: in_view(d, card))
    assert len(driver.window_handles) == 1  # no new tab opened by the link
    others = driver.find_elements(By.CSS_SELECTOR, ".source-card.highlight")
    assert [c.get_attribute("id") for c in others] == ["source-card-1"]

    # an official document: the enumeration answered whole, its article cited with title and section path
    box = driver.find_element(By.CSS_SELECTOR, "#question-box textarea")
    box.send_keys(LAW_QUESTION)
    driver.find_element(By.ID, "send-button").click()
    WebDriverWait(driver, 90).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#chat .answer-meta")) >= 2)
    WebDriverWait(driver, 30).until(lambda d: "第二十三条" in d.find_element(By.ID, "sources-panel").text)
    chat_text = driver.find_element(By.ID, "chat").text
    assert "应当符合下列条件" in chat_text and "规章制度" in chat_text
    panel = driver.find_element(By.ID, "sources-panel").text
    assert "医疗废物管理条例" in panel and "第四章 医疗废物的集中处置 > 第二十三条" in panel

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 10_000


def test_new_chat_clears(app_url, driver):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    if not driver.find_elements(By.CSS_SELECTOR, "#chat .answer-meta"):
        pytest.skip("needs the conversation from the previous test")
    driver.find_element(By.ID, "new-chat-button").click()
    WebDriverWait(driver, 10).until(lambda d: not d.find_elements(By.CSS_SELECTOR, "#chat .answer-meta"))
    WebDriverWait(driver, 10).until(lambda d: not d.find_elements(By.ID, "source-card-1"))


# Written where CI keeps its artifacts; docs/requirements-tab.png (the README's) is a copy of one run.
REQUIREMENTS_SCREENSHOT = REPO / "artifacts" / "requirements-tab.png"


def test_requirements_tab_filter_open_a_row_and_set_a_status(app_url, driver):
    """The 要求清单 tab: search and filter, click a row to see the passage with the requirement
    highlighted in the sources card, set a status and a note; saved as a screenshot in artifacts/."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait as Wait

    def WebDriverWait(d, timeout):  # noqa: N802 - rows are re-rendered while the table updates
        return Wait(d, timeout, ignored_exceptions=(StaleElementReferenceException,))

    driver.get(app_url)
    tab = WebDriverWait(driver, 60).until(
        lambda d: d.find_element(By.XPATH, "//button[@role='tab' and contains(., '要求清单')]"))
    tab.click()
    # the table is virtual (only the rows in view are in the DOM): its grid says how many there are
    rows = "#requirements-table [role='row']:has([role='gridcell'])"

    def row_count(d) -> int:
        return int(d.find_element(By.CSS_SELECTOR, "#requirements-table [role='grid']").get_attribute("aria-rowcount")) - 1

    WebDriverWait(driver, 60).until(lambda d: row_count(d) > 50)
    assert "已完成 0 /" in driver.find_element(By.ID, "requirements-progress").text

    box = driver.find_element(By.CSS_SELECTOR, "#req-search textarea, #req-search input")
    box.send_keys("医疗废物 贮存", Keys.ENTER)
    driver.find_element(By.CSS_SELECTOR, "#req-has-deadline input").click()

    def filtered(d) -> list:
        found = d.find_elements(By.CSS_SELECTOR, rows)
        texts = [r.text for r in found]
        ok = found and row_count(d) < 20 and all("贮存" in t and "医疗废物" in t for t in texts)
        return found if ok else []

    WebDriverWait(driver, 30).until(filtered)
    assert "当前筛选" in driver.find_element(By.ID, "req-count").text

    def open_first_row(d) -> tuple[str, str] | None:
        found = filtered(d)
        if not found:
            return None
        cells = found[0].find_elements(By.CSS_SELECTOR, "[role='gridcell']")
        doc, text = cells[0].text.strip(), cells[5].text.strip()  # 文档, 要求原文
        cells[5].click()
        return doc, text

    doc, requirement = WebDriverWait(driver, 30).until(open_first_row)
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#requirement-card mark"))
    card = driver.find_element(By.ID, "requirement-card")
    marked = "".join(m.text for m in card.find_elements(By.TAG_NAME, "mark"))
    assert marked.replace("\n", "") == requirement.replace("\n", "")
    title = card.find_element(By.CLASS_NAME, "source-title").text
    assert title.replace("\n", "") == doc.replace("\n", "") and "条" in card.text

    driver.find_element(By.XPATH, "//*[@id='req-new-status']//label[contains(., '进行中')]").click()
    note = driver.find_element(By.CSS_SELECTOR, "#req-note textarea")
    note.send_keys(Keys.CONTROL, "a")
    note.send_keys(Keys.BACKSPACE)
    note.send_keys("总务科负责，每周检查暂存间")
    driver.find_element(By.ID, "req-save").click()
    WebDriverWait(driver, 30).until(lambda d: "已保存：进行中" in d.find_element(By.ID, "req-saved").text)
    WebDriverWait(driver, 30).until(
        lambda d: "总务科负责" in d.find_element(By.CSS_SELECTOR, rows).text
        and "进行中" in d.find_element(By.CSS_SELECTOR, rows).text)
    assert "进行中 1" in driver.find_element(By.ID, "requirements-progress").text

    # for the screenshot: every requirement with a deadline, the opened card kept beside them
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.BACKSPACE)
    box.send_keys(Keys.ENTER)
    WebDriverWait(driver, 30).until(lambda d: row_count(d) > 1)
    driver.set_window_size(1500, 1150)
    driver.execute_script("window.scrollTo(0, 0);")
    REQUIREMENTS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(REQUIREMENTS_SCREENSHOT))
    assert REQUIREMENTS_SCREENSHOT.stat().st_size > 10_000


# Written where CI keeps its artifacts; docs/study-tab.png (the README's) is a copy of one run.
STUDY_SCREENSHOT = REPO / "artifacts" / "study-tab.png"
STUDY_DOC = "医疗废物管理条例"


def test_study_tab_five_items_one_wrong_its_review_and_retry(browser_app, driver):
    """The 学习 tab: a 5-item session over one document, the third answer wrong; the feedback with the
    cited passage highlighted after each answer, the score and the review of the mistake, then
    「再练错题」 starting a session of just that item. Saved as a screenshot in artifacts/."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait as Wait

    from study.items import item_pool

    def WebDriverWait(d, timeout):  # noqa: N802 - Gradio re-renders the components it updates
        return Wait(d, timeout, ignored_exceptions=(StaleElementReferenceException,))

    pool = {i.id: i for i in item_pool(browser_app.settings)}
    driver.set_window_size(1500, 1150)
    driver.get(browser_app.url)
    tab = WebDriverWait(driver, 60).until(
        lambda d: d.find_element(By.XPATH, "//button[@role='tab' and contains(., '学习')]"))
    tab.click()
    name = WebDriverWait(driver, 30).until(lambda d: d.find_element(By.CSS_SELECTOR, "#study-user input, #study-user textarea"))
    name.send_keys("李医生")
    docs = driver.find_element(By.CSS_SELECTOR, "#study-docs input")
    docs.click()
    docs.send_keys(STUDY_DOC)
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "ul[role='listbox'] li"))
    docs.send_keys(Keys.ENTER)
    WebDriverWait(driver, 10).until(lambda d: STUDY_DOC in d.find_element(By.ID, "study-docs").text)
    count = driver.find_element(By.CSS_SELECTOR, "#study-n input")
    count.send_keys(Keys.CONTROL, "a")
    count.send_keys("5")
    driver.find_element(By.ID, "study-tab").click()  # closes the dropdown's list
    driver.find_element(By.ID, "study-start").click()

    def current(d) -> tuple[int, str] | None:
        """(the item's number, its id) once the item card shows a new one."""
        found = d.find_elements(By.ID, "study-item")
        if not found or not found[0].is_displayed():
            return None
        number = re.search(r"第 (\d+) / (\d+) 题", found[0].text)
        return (int(number.group(1)), found[0].get_attribute("data-id")) if number else None

    seen, wrong = [], None
    for k in range(1, 6):
        number, item_id = WebDriverWait(driver, 60).until(lambda d: (c := current(d)) and c[0] == k and c)
        assert "/ 5 题" in driver.find_element(By.ID, "study-item").text
        item = pool[item_id]
        assert item.source.title.startswith(STUDY_DOC) or STUDY_DOC in item.source.doc
        assert item.prompt.replace("\n", "") in driver.find_element(By.ID, "study-item").text.replace("\n", "")
        seen.append(item_id)
        right = k != 3
        if item.type == "tf":
            label = "对" if item.answer is right else "错"
            driver.find_element(By.XPATH, f"//*[@id='study-tf']//label[normalize-space(.)='{label}']").click()
        elif item.type == "mc":
            choice = item.answer if right else next(c for c in item.choices if c != item.answer)
            letter = "ABCDEFGH"[item.choices.index(choice)]
            driver.find_element(By.XPATH, f"//*[@id='study-mc']//label[starts-with(normalize-space(.), '{letter}.')]").click()
        else:
            box = driver.find_element(By.CSS_SELECTOR, "#study-cloze input, #study-cloze textarea")
            box.send_keys(item.answer if right else "不知道")
        driver.find_element(By.ID, "study-submit").click()
        WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#study-feedback .study-verdict"))
        verdict = driver.find_element(By.CSS_SELECTOR, "#study-feedback .study-verdict").text
        assert verdict.startswith("✓ 回答正确" if right else "✗ 回答错误，正确答案："), verdict
        card = driver.find_element(By.ID, "study-source")
        a, b = item.source.span
        assert "".join(m.text for m in card.find_elements(By.TAG_NAME, "mark")).replace("\n", "") == \
            item.source.passage[a:b].replace("\n", "")
        if not right:
            wrong = item
            # the mistake's feedback beside its cited passage, for whoever reads the CI artifacts
            STUDY_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(STUDY_SCREENSHOT.with_name("study-tab-feedback.png")))
        driver.find_element(By.ID, "study-next").click()
    assert len(set(seen)) == 5

    WebDriverWait(driver, 30).until(lambda d: "得分 4 / 5" in d.find_element(By.ID, "study-score").text)
    review = driver.find_element(By.ID, "study-review")
    [entry] = review.find_elements(By.CSS_SELECTOR, ".study-review-item")
    assert entry.get_attribute("data-id") == wrong.id
    assert "你的答案：" in entry.text and "正确答案：" in entry.text
    assert entry.find_elements(By.CSS_SELECTOR, ".source-card mark")
    assert "薄弱章节" in driver.find_element(By.ID, "study-summary").text
    driver.execute_script("window.scrollTo(0, 0);")
    STUDY_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(STUDY_SCREENSHOT))
    assert STUDY_SCREENSHOT.stat().st_size > 10_000

    driver.find_element(By.ID, "study-retry").click()
    number, item_id = WebDriverWait(driver, 30).until(lambda d: (c := current(d)) and c)
    assert (number, item_id) == (1, wrong.id)
    assert "第 1 / 1 题" in driver.find_element(By.ID, "study-item").text
