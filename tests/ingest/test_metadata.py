"""extract_meta: 文号, dates, issuers and titles as Chinese official documents and news pages lay them out."""

from __future__ import annotations

import pytest

from ingest.metadata import extract_meta, is_junk_title, is_navigation_line, parse_date

BODY = "坚持以人民健康为中心，全面提升县医院综合能力，推动优质医疗资源扩容和区域均衡布局。"


def doc(*lines: str) -> str:
    return "\n".join(lines)


# --- 文号 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("国卫办医函〔2021〕538号", "国卫办医函〔2021〕538号"),
        ("国卫医发[2020]13号", "国卫医发〔2020〕13号"),
        ("桂卫医发[2022]5号", "桂卫医发〔2022〕5号"),
        ("国办发（2021）18号", "国办发〔2021〕18号"),
        ("国办发(2021)18号", "国办发〔2021〕18号"),
        ("国卫医政发［2023］12号", "国卫医政发〔2023〕12号"),
        ("国卫办医政函【2022】 7 号", "国卫办医政函〔2022〕7号"),
        ("国卫医发〔２０２０〕１３号", "国卫医发〔2020〕13号"),  # full-width digits
        ("国卫办医函〔2021〕538号          签发人：张三", "国卫办医函〔2021〕538号"),
    ],
)
def test_wenhao_forms_are_canonicalised(line: str, expected: str) -> None:
    meta = extract_meta(doc("国家卫生健康委办公厅", line, "关于加强县医院专科建设的通知", BODY))
    assert meta.wenhao == expected


def test_wenhao_after_title_in_parentheses() -> None:
    text = doc("国家卫生健康委办公厅关于印发千县工程工作方案的通知", "（国卫办医函〔2021〕538号）", BODY)
    assert extract_meta(text).wenhao == "国卫办医函〔2021〕538号"


def test_wenhao_cited_in_body_is_not_the_documents_own() -> None:
    lines = ["关于加强县医院专科建设的通知", "各有关单位：", *[BODY] * 20]
    lines.append("根据国卫医发〔2020〕13号文件要求，现将有关事项通知如下。")
    assert extract_meta(doc(*lines)).wenhao is None


def test_wenhao_cited_in_an_early_sentence_is_not_taken() -> None:
    text = doc(
        "中山一院广西医院承办高级研修班",
        "发布时间：2024-06-25 来源：医务部",
        "为贯彻落实《关于开展全面提升医疗质量行动的通知》（国卫医政发〔2023〕12号）文件精神，进一步提升医疗质量。",
    )
    assert extract_meta(text).wenhao is None


def test_labelled_wenhao_on_a_government_info_table() -> None:
    lines = [f"栏目{i}" for i in range(18)] + ["发文字号：国办发〔2021〕18号", "标题：关于推动公立医院高质量发展的意见", BODY]
    assert extract_meta(doc(*lines)).wenhao == "国办发〔2021〕18号"


# --- dates --------------------------------------------------------------------------------------


def test_labelled_date_beats_event_date_in_body() -> None:
    text = doc(
        "某医院召开专科建设推进会",
        "2024年6月22日，某医院召开专科建设推进会，全院中层干部参会。",
        "发布时间：2024-06-25 来源：医务部",
        BODY,
    )
    assert extract_meta(text).date == "2024-06-25"


@pytest.mark.parametrize(
    "label",
    ["发布时间:2024-06-25来源:医务部", "发布日期：2024年6月25日", "日期：2024/6/25", "印发日期：2024.06.25", "时间：2024-06-25 09:30"],
)
def test_labelled_date_forms(label: str) -> None:
    assert extract_meta(doc("某医院新闻", label, BODY)).date == "2024-06-25"


def test_event_time_label_is_not_a_publication_date() -> None:
    text = doc("关于召开专科建设会议的通知", "会议时间：2024年6月22日", BODY)
    assert extract_meta(text).date is None


def test_signature_date_is_the_last_date_only_line() -> None:
    text = doc(
        "关于加强县医院专科建设的通知",
        "2021年9月1日，我委召开专题会议研究部署。",
        BODY,
        BODY,
        "国家卫生健康委办公厅",
        "2021年10月8日",
        "（信息公开形式：主动公开）",
    )
    meta = extract_meta(text)
    assert meta.date == "2021-10-08"
    assert meta.issuer == "国家卫生健康委办公厅"


def test_signature_date_with_time_stamp() -> None:
    text = doc("县域医院交流会顺利召开", "2023年9月27日，交流会在南宁召开。", BODY, BODY, "2023年9月30日 23:03", "浏览量:0")
    assert extract_meta(text).date == "2023-09-30"


def test_signature_date_in_chinese_numerals() -> None:
    text = doc("关于加强县医院专科建设的通知", BODY, BODY, BODY, "国家卫生健康委员会", "二〇二一年十月九日")
    meta = extract_meta(text)
    assert meta.date == "2021-10-09"
    assert meta.issuer == "国家卫生健康委员会"


def test_date_after_issuer_line_at_the_end() -> None:
    text = doc("关于加强县医院专科建设的通知", BODY, BODY, BODY, "国家卫生健康委办公厅", "2021年10月9日印发")
    assert extract_meta(text).date == "2021-10-09"


def test_signature_before_attachments_is_found() -> None:
    lines = ["关于印发建设指南的通知", *[BODY] * 14, "国家卫生健康委办公厅", "2023年10月13日", "附件", "胸痛中心建设指南"]
    lines += [BODY] * 30
    meta = extract_meta(doc(*lines))
    assert meta.date == "2023-10-13"
    assert meta.issuer == "国家卫生健康委办公厅"


def test_short_notice_followed_by_its_attachment() -> None:
    lines = ["关于印发工作方案的通知", "各省卫生健康委：", BODY, "国家卫生健康委办公厅", "2021年10月8日", "（信息公开形式：主动公开）"]
    lines += ["附件", "千县工程工作方案", *[BODY] * 12, "2021年9月1日"]
    meta = extract_meta(doc(*lines))
    assert (meta.date, meta.issuer) == ("2021-10-08", "国家卫生健康委办公厅")


def test_first_body_date_is_not_taken() -> None:
    text = doc("县医院能力提升工作推进会召开", "2024年3月5日，推进会在北京召开。", BODY, BODY, BODY)
    assert extract_meta(text).date is None


def test_parse_date_rejects_impossible_dates() -> None:
    assert parse_date("2024年2月30日") is None
    assert parse_date("2021-2025年") is None
    assert parse_date("二〇二四年二月二十九日") == "2024-02-29"


# --- issuer -------------------------------------------------------------------------------------


def test_joint_signature_bodies() -> None:
    text = doc("关于印发方案的通知", BODY, BODY, BODY, "国家卫生健康委", "国家中医药局", "2023年5月26日")
    assert extract_meta(text).issuer == "国家卫生健康委、国家中医药局"


def test_source_label_gives_issuer() -> None:
    text = doc("某医院承办研修班", "发布时间:2024-06-25来源:医务部编辑:浏览:", BODY, "（来源：医务部）")
    assert extract_meta(text).issuer == "医务部"


def test_issuer_from_wenhao_prefix_when_no_signature() -> None:
    text = doc("国卫办医函〔2021〕538号", "国家卫生健康委办公厅关于印发工作方案的通知", BODY, BODY)
    assert extract_meta(text).issuer == "国家卫生健康委办公厅"
    assert extract_meta(doc("国办发〔2021〕18号", "关于推动公立医院高质量发展的意见", BODY)).issuer == "国务院办公厅"


def test_sentence_before_date_is_not_an_issuer() -> None:
    text = doc("交流会顺利召开", BODY, "参会代表收获满满，为县医院能力提升工作顺利开局！", "2023年9月30日")
    assert extract_meta(text).issuer is None


# --- title --------------------------------------------------------------------------------------


def test_two_line_official_title_skipping_header_and_wenhao() -> None:
    text = doc(
        "国家卫生健康委办公厅",
        "国卫办医函〔2021〕538号",
        "国家卫生健康委办公厅关于印发“千县工程”县医院综合能力提升",
        "工作方案（2021-2025年）的通知",
        "各省、自治区、直辖市及新疆生产建设兵团卫生健康委：",
        BODY,
    )
    meta = extract_meta(text)
    assert meta.title == "国家卫生健康委办公厅关于印发“千县工程”县医院综合能力提升工作方案（2021-2025年）的通知"
    assert meta.wenhao == "国卫办医函〔2021〕538号"


def test_title_wrapped_after_a_doc_type_word_is_joined_in_full() -> None:
    text = doc("关于印发千县工程县医院综合能力提升工作方案", "（2021-2025年）的通知", BODY)
    assert extract_meta(text).title == "关于印发千县工程县医院综合能力提升工作方案（2021-2025年）的通知"


def test_red_header_line_is_not_the_title() -> None:
    text = doc("国家卫生健康委员会文件", "国卫医发〔2020〕13号", "关于加强公立医院运营管理的指导意见", BODY)
    assert extract_meta(text).title == "关于加强公立医院运营管理的指导意见"


def test_news_headline_above_labels_skips_site_chrome() -> None:
    text = doc(
        "欢迎访问某某人民医院官方网站",
        "医院新闻",
        "您现在的位置: 首页>医院新闻>医院新闻",
        "我院承办全面提升医疗质量行动高级研修班",
        "发布时间:2024-06-25来源:医务部",
        BODY,
    )
    assert extract_meta(text).title == "我院承办全面提升医疗质量行动高级研修班"


def test_first_meaningful_line_is_the_fallback_title() -> None:
    text = doc("", "首页 > 新闻中心", "县域医院综合能力提升项目医学专科交流会顺利召开!", BODY)
    assert extract_meta(text).title == "县域医院综合能力提升项目医学专科交流会顺利召开!"


def test_title_hint_wins_unless_junk() -> None:
    text = doc("关于加强县医院专科建设的通知", BODY)
    assert extract_meta(text, title_hint="县医院专科建设通知").title == "县医院专科建设通知"
    for junk in ["Microsoft Word - 通知.doc", "Document1", "tmp123", "", "  ", "方案.pdf"]:
        assert extract_meta(text, title_hint=junk).title == "关于加强县医院专科建设的通知"


def test_empty_text_gives_empty_meta() -> None:
    meta = extract_meta("")
    assert (meta.title, meta.wenhao, meta.issuer, meta.date) == ("", None, None, None)


def test_is_junk_title_and_navigation_lines() -> None:
    assert is_junk_title("Microsoft Word - 千县工程.doc")
    assert not is_junk_title("“千县工程”县医院综合能力提升工作方案")
    assert is_navigation_line("分享到：微信 微博")
    assert is_navigation_line("首页 > 新闻 > 正文")
    assert is_navigation_line("【打印本页】【关闭窗口】")
    assert not is_navigation_line("医院首页改版后，患者可在线预约挂号，预约成功率提高到95%以上，等候时间明显缩短。")


def test_extract_meta_is_fast_on_long_text() -> None:
    import time

    text = "\n".join([BODY] * 50_000)
    start = time.perf_counter()
    extract_meta(text)
    assert time.perf_counter() - start < 1.0
