"""The one question analysis: normalisation, answer types, asked units, weighted terms, and
follow-up rewriting into a well-formed standalone question (rules, and the LLM hook)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.question import QuestionAnalyzer, arabic_numerals, normalize_question
from ingest.lexical import ChineseTokenizer, LexicalIndex
from settings import LexicalSettings, QuestionSettings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def analyzer() -> QuestionAnalyzer:
    empty = LexicalIndex([], None)
    return QuestionAnalyzer(ChineseTokenizer(LexicalSettings()), lambda: empty, None, QuestionSettings())


def test_normalize_question_folds_full_width_and_spaces():
    assert normalize_question("ＤＲＧ　付费改革是什么？  ") == "DRG 付费改革是什么?"
    assert normalize_question("２０２４年（第一期）研修班，有几天？") == "2024年(第一期)研修班,有几天?"


@pytest.mark.parametrize(
    ("question", "answer_type", "unit"),
    [
        ("医疗废物集中处置单位应当符合哪些条件？", "list", None),
        ("甲类传染病有哪些？", "list", None),
        ("什么是医疗废物？", "definition", None),
        ("医疗废物暂时贮存不得超过多长时间？", "duration", None),
        ("广西有多少家医院纳入千县工程？", "number", "家"),
        ("应当在几小时内报告？", "duration", "小时"),
        ("县域就诊率要达到多大比例？", "share", None),
        ("交流会是在哪个城市召开的？", "place", None),
        ("研修班由谁主办？", "who", None),
        ("“急诊急救五大中心”具体是哪五大中心？", "list", None),  # 哪 + a numeral asks for the items
        ("郑州市人民政府每年在什么时间报告建设情况？", "date", None),  # 时间 alone is a frame word
        ("安全监控中心应当设在医院的什么位置？", "place", None),
        ("累计建成了多少个肿瘤防治中心？", "number", "个"),  # a count in 个
        ("课程覆盖了哪几个方面？", "list", None),  # ...but 哪几个方面 asks for the aspects
        ("指定传染病具体有哪几种？", "list", None),  # 哪几种, 哪几项 ask for the items, not a count in 种
        ("医院感染管理部门要承担哪几项工作？", "list", None),
    ],
)
def test_answer_type_and_unit(analyzer: QuestionAnalyzer, question: str, answer_type: str, unit: str | None):
    q = analyzer.analyze(question)
    assert q.answer_type == answer_type
    assert q.unit == unit


def test_several_is_asked_by_comparisons(analyzer: QuestionAnalyzer):
    assert analyzer.analyze("北京和上海的急救条例分别规定了什么？").several
    assert not analyzer.analyze("甲类传染病有哪些？").several


def test_answer_type_words_weigh_lightly(analyzer: QuestionAnalyzer):
    terms = {t.text: t.weight for t in analyzer.analyze("交流会是在哪个城市召开的？").terms}
    assert terms["城市"] < 0.5 * terms["交流会"]
    words = {t.text for t in analyzer.analyze("樊代明在致辞结尾讲了哪些方面？开了多长时间？").terms}
    assert words.isdisjoint({"结尾", "哪些方面", "多长时间"}) and "樊代明" in words


# ------------------------------------------------------------------------------- follow-ups

# (history, follow-up, words the standalone question must contain, words it must not)
PAIRS: list[tuple[list[str], str, list[str], list[str]]] = [
    (["广西有多少家医院纳入千县工程？"], "那三级医院有几家？", ["广西", "千县工程", "三级医院", "几家"], ["多少家医院纳入三级"]),
    (["交流会有多少人参会？"], "那研修班呢？", ["研修班", "多少", "参会"], ["那", "呢"]),
    (["千县工程是哪一年开始设计的？"], "它的重点工作任务是什么？", ["千县工程", "重点工作任务"], ["它"]),
    (["研修班在哪里举行？", "它为期几天？"], "那交流会呢？", ["交流会", "几天"], ["它"]),
    (["2024年6月的高级研修班在哪里举行？"], "它的课程为期几天？", ["研修班", "几天"], ["它"]),
    (["医疗废物集中处置单位应当符合哪些条件？"], "它多久收集一次医疗废物？", ["医疗废物集中处置单位", "多久"], ["它多久"]),
    (["甲类传染病有哪些？"], "那乙类呢？", ["乙类"], ["那", "呢"]),
    (["医疗废物暂时贮存不得超过多长时间？"], "那登记资料要保存几年？", ["医疗废物", "登记资料", "几年"], []),
    (["北京市院前医疗急救服务条例由哪个部门负责监督管理？"], "那上海呢？", ["上海"], ["那上海呢"]),
    (["献血法规定献血者两次采集间隔不少于多少个月？"], "该法从哪一年起施行？", ["献血", "哪一年"], ["该法"]),
    (["疫苗管理法规定疫苗上市许可持有人应当建立什么制度？"], "其法定代表人承担什么责任？", ["疫苗上市许可持有人", "法定代表人"], []),
    (["精神卫生法规定哪些人可以送诊疑似精神障碍患者？"], "这些人需要承担什么义务？", ["精神障碍", "义务"], ["这些人"]),
    (["职业病诊断应当由哪类机构承担？"], "对它的结论有异议怎么办？", ["职业病诊断", "异议"], ["它"]),
    (["宁波市医疗纠纷人民调解委员会应当在多少日内完成调解？"], "那调解不成呢？", ["调解", "不成"], ["那调解不成呢"]),
    (["药品管理法规定的药品上市许可持有人有哪些义务？"], "它的质量受权人负责什么？", ["药品上市许可持有人", "质量受权人"], ["它"]),
    (["医疗器械经营许可证有效期是几年？"], "那到期后怎么延续？", ["医疗器械经营许可证", "到期"], []),
    (["中医药法对中医诊所实行什么管理？"], "那中医医师呢？", ["中医医师"], ["那", "呢"]),
    (["浙江省医疗保障条例规定职工医保由谁缴费？"], "那缴费比例是多少？", ["职工医保", "缴费比例"], []),
    (["母婴保健法规定婚前医学检查包括哪些疾病？"], "那检查后医师应当出具什么？", ["婚前医学检查", "医师", "出具"], []),
    (["郑州市医疗卫生设施规划由哪个部门编制？"], "它多久修编一次？", ["郑州", "多久"], ["它多久"]),
    (["北京市医院安全秩序管理规定要求医院配备多少保安？"], "那安检设备呢？", ["安检设备"], ["那", "呢"]),
]


@pytest.mark.parametrize(("history", "question", "must", "never"), PAIRS)
def test_followups_become_standalone_questions(analyzer, history, question, must, never):
    q = analyzer.analyze(question, history)
    assert q.rewritten is not None, question
    for word in must:
        assert word in q.standalone, (q.standalone, word)
    for word in never:
        assert word not in q.standalone, (q.standalone, word)
    assert q.standalone.endswith(("?", "？")) or "呢" not in q.standalone


def test_at_least_twenty_followup_pairs_are_covered():
    assert len(PAIRS) >= 20


def test_followup_words_weigh_more_than_the_borrowed_frame(analyzer: QuestionAnalyzer):
    q = analyzer.analyze("那三级医院有几家？", ["广西有多少家医院纳入千县工程？"])
    weights = {t.text: t.weight for t in q.terms}
    assert weights["三级医院"] > weights["千县工程"]


def test_standalone_questions_are_not_rewritten(analyzer: QuestionAnalyzer):
    assert analyzer.analyze("广西有多少家医院纳入千县工程？", ["研修班在哪里举行？"]).rewritten is None
    assert analyzer.analyze("它的课程为期几天？", []).rewritten is None
    assert analyzer.analyze("那研修班呢？", ["", "  "]).rewritten is None


def test_llm_rewrite_first_line_and_fallback(analyzer: QuestionAnalyzer):
    prompts: list[str] = []

    def llm(prompt: str) -> str:
        prompts.append(prompt)
        return "  研修班的课程为期几天？\n（说明：把“它”替换为研修班）"

    assert analyzer.with_llm(llm).rewrite("它的课程为期几天？", ["研修班在哪里举行？"]) == "研修班的课程为期几天？"
    assert "用户：研修班在哪里举行?" in prompts[0]

    def broken(prompt: str) -> str:
        raise TimeoutError("no answer")

    history = ["千县工程是哪一年开始设计的？"]
    expected = analyzer.rewrite("它的重点工作任务是什么？", history)
    assert analyzer.with_llm(broken).rewrite("它的重点工作任务是什么？", history) == expected
    assert analyzer.with_llm(lambda p: "   ").rewrite("它的重点工作任务是什么？", history) == expected


def test_followups_in_the_question_sets_are_rewritten(analyzer: QuestionAnalyzer):
    """Every follow-up of the dev and test sets leans on its history and gets a standalone form."""
    n = 0
    for name in ("dev.jsonl", "test.jsonl"):
        for line in (REPO / "evals" / "questions" / name).read_text(encoding="utf-8").splitlines():
            q = json.loads(line)
            if q["type"] == "followup":
                n += 1
                assert analyzer.analyze(q["question"], q["history"]).rewritten, q["id"]
    assert n >= 20


@pytest.mark.parametrize(
    ("question", "measured"),
    [
        ("北京院前救护车的起步价是多少元？", "起步价"),  # the noun before the asking word
        ("按郑州市的条例，每千人口应当配置多少张医院床位？", "床位"),  # the head of the noun run after it
        ("44家千县工程医院中有多少家建成了胸痛中心？", "胸痛中心"),
        ("精神障碍患者的病历资料至少要保存多少年？", "病历资料"),
        ("医疗纠纷人民调解委员会设几名主任？", "主任"),  # jieba tags 主任 a distinguishing word (b)
        ("医疗废物集中处置单位应当符合哪些条件？", None),  # not a figure question
        ("规划草案在报批前要公示多久来听取意见？", None),  # how long an action lasts (公示多久), no noun's quantity
        ("药品经营许可证的有效期是几年？", "有效期"),  # 是 is no action
        ("规划草案在报批前要多少天？", "草案"),  # jieba's 报批|前要 (b) is a slip, not a title such as 主任
    ],
)
def test_a_figure_question_names_what_it_measures(analyzer: QuestionAnalyzer, question: str, measured: str | None):
    got = analyzer.analyze(question).measured
    assert (got.text if got else None) in ({measured} if measured != "病历资料" else {"病历", "资料", "病历资料"})


def test_a_share_is_not_asked_in_yuan(analyzer: QuestionAnalyzer):
    # 缴费 holds 费, but 缴费比例 asks for a percentage, not an amount in 元
    q = analyzer.analyze("个人缴费比例是百分之几？")
    assert q.answer_type == "share" and q.unit is None



@pytest.mark.parametrize(
    ("question", "things"),
    [
        ("广西首批纳入千县工程的44家医院中有多少家是中医医院？", True),
        ("我国第一部肿瘤整合诊治指南是多少名专家一起写的？", True),
        ("医疗器械产品注册费每个产品收取多少元？", False),  # an amount
        ("罚款是货值金额的几倍？", False),
        ("精神障碍患者的病历资料至少要保存多少年？", False),  # a period
        ("研修班的报名费是多少？", False),  # 元 only implied by 费
    ],
)
def test_a_count_of_things_is_told_from_amounts_and_periods(analyzer: QuestionAnalyzer, question: str, things: bool):
    assert analyzer.analyze(question).counts_things is things


@pytest.mark.parametrize(
    ("question", "agent"),
    [
        ("国家基本药物目录是由哪个部门负责遴选的？", "部门"),
        ("医疗废物集中处置单位要向哪个部门申请领取经营许可证？", "部门"),
        ("哪些单位应当配备急救器械？", "单位"),
        ("体外诊断试剂由什么部门批准？", "部门"),
        ("研修班由谁主办？", None),  # a person or any agent: no kind to look for
    ],
)
def test_a_who_question_names_the_kind_of_agent_it_asks_for(analyzer: QuestionAnalyzer, question: str, agent: str | None):
    q = analyzer.analyze(question)
    assert q.agent == agent
    assert "who" in q.wants  # asking for a kind of agent is asking who


def test_a_deadline_for_an_action_measures_no_noun(analyzer: QuestionAnalyzer):
    # 在多少日内向人民法院提起诉讼: the period is the deadline of the lawsuit, 人民法院 is not what is measured
    assert analyzer.analyze("用人单位对仲裁裁决不服的，应当在多少日内向人民法院提起诉讼？").measured is None
    assert analyzer.analyze("医疗废物的登记资料至少要保存多少年？").measured is not None


@pytest.mark.parametrize("question", ["调解委员会由几名委员组成？", "调解委员会由多少人组成？", "调解委员会有几位委员？"])
def test_people_are_counted_in_any_of_their_measure_words(analyzer: QuestionAnalyzer, question: str):
    shape = analyzer.analyze(question).given_pattern("number")
    assert shape is not None
    for given in ("由委员三至九人组成", "委员5名", "设委员七位"):
        assert shape.search(arabic_numerals(given)), given
    assert not shape.search(arabic_numerals("为期两天"))


def test_a_deadline_names_the_action_it_is_for(analyzer: QuestionAnalyzer):
    # in question order, so the last term is the head of what must be done by then
    assert analyzer.analyze("县级市应当在几年内建成集中处置设施？").action[-1].text == "设施"
    assert analyzer.analyze("药品检验机构应当在多少日内作出复验结论？").action[-1].text == "结论"
    assert analyzer.analyze("有效期是几年？").action == ()  # a period, not a deadline


@pytest.mark.parametrize(
    ("question", "answer_type", "unit"),
    [
        ("交流会当天是几点开幕的？", "time", None),  # the time of day
        ("研修班几点钟结束？", "time", None),
        ("黎甲文讲了几点建议？", "number", "点"),  # a count in 点
    ],
)
def test_a_time_of_day_is_not_a_count_in_dian(analyzer: QuestionAnalyzer, question: str, answer_type: str, unit: str | None):
    q = analyzer.analyze(question)
    assert (q.answer_type, q.unit) == (answer_type, unit)


def test_the_figures_a_question_states_are_its_premise(analyzer: QuestionAnalyzer):
    assert analyzer.analyze("县域就诊率达90%以上，那基层就诊率是多少？").stated == ("90%",)
    assert analyzer.analyze("三级医院有九家，二级医院有几家？").stated == ("9家",)  # numerals read as digits
    assert analyzer.analyze("60万医护人员中有13000多家医院的吗？").stated == ("60万", "13000多家")  # round figures too
    assert analyzer.analyze("第一类医疗器械的备案要多少天？").stated == ()  # an ordinal states no figure


def test_the_party_of_a_condition_opens_its_clause(analyzer: QuestionAnalyzer):
    q = analyzer.analyze("劳动者对仲裁裁决不服的，应当在多少日内向人民法院提起诉讼？")
    assert q.party is not None and q.party.text == "劳动者"
    # a condition that opens with a place or a verb names no party; no condition, no party
    assert analyzer.analyze("在北京，有人私自安装警报器的，要罚款多少元？").party is None
    assert analyzer.analyze("未取得许可证生产药品的，罚款是货值金额的几倍？").party is None
    assert analyzer.analyze("医疗废物的登记资料至少要保存多少年？").party is None


def test_a_deputy_s_title_is_one_word(analyzer: QuestionAnalyzer):
    # jieba splits 副|主任; the deputy is another office than the one without 副
    assert analyzer.analyze("调解委员会最多可以设几名副主任？").measured.text == "副主任"
    assert analyzer.analyze("调解委员会设几名主任？").measured.text == "主任"
    assert analyzer.analyze("县域学习平台的副主任是谁？").role == "副主任"
    assert analyzer.analyze("县域学习平台的主任是谁？").role == "主任"



def test_who_holds_an_office_is_asked_with_you_shei_danren(analyzer: QuestionAnalyzer):
    assert analyzer.analyze("调解委员会的主任由谁担任？").role == "主任"


def test_a_list_of_items_is_not_one_fact_each_of_several_things(analyzer: QuestionAnalyzer):
    assert analyzer.analyze("甲类传染病有哪些？").asks_items
    assert analyzer.analyze("国家免疫规划疫苗包括哪些具体品种？").item_noun == "品种"
    several = analyzer.analyze("药物临床试验和医疗器械临床试验的审批分别要多长时间？")
    assert several.answer_type == "list" and not several.asks_items and several.item_noun is None


def test_which_ones_is_not_a_count(analyzer: QuestionAnalyzer):
    # 哪几种 asks for the items: no figure of 种 is wanted, so a unit without 「N种」 is not marked down
    assert "number" not in analyzer.analyze("指定传染病具体有哪几种？").wants
    assert "number" in analyzer.analyze("甲类传染病有几种？").wants
    # 那几种, 这几项 point at things already named: no count is asked
    assert "number" not in analyzer.analyze("打计划内的那几种疫苗，接种单位能收钱吗？").wants


def test_a_yes_no_cue_is_no_content_word(analyzer: QuestionAnalyzer):
    # no document says 能否: as a term it would weigh like the rarest word and be dropped as one no document uses
    question = analyzer.analyze("医疗废物集中处置单位能否在夜间运送医疗废物？")
    assert not {"能否", "能不能"} & {t.text for t in question.terms}
    assert [t.text for t in question.yes_no_action][-1] == "运送"
    assert "能不能" not in {t.text for t in analyzer.analyze("药店能不能开网店卖麻醉药？").terms}


def test_a_yes_no_question_s_manner_is_read_from_its_action(analyzer: QuestionAnalyzer):
    assert analyzer.analyze("规培住院医师能否单独向患者交代手术风险？").manner == ("单独",)
    assert analyzer.analyze("男女双方能否在不同的医疗保健机构分别进行婚前医学检查？").manner == ("分别", "不同")
    # before the cue it is the subject's, not the action's; with two questions asked it is not read
    assert analyzer.analyze("分别参保的夫妻能否互相使用个人账户？").manner == ()
    assert analyzer.analyze("我能不能同时上职工医保和居民医保？之前交的钱能退吗？").manner == ()


def test_a_comparison_is_asked_one_side_at_a_time(analyzer: QuestionAnalyzer):
    # two acts, or two places: each side is retrieved on its own (HybridRetriever.retrieve_each)
    acts = analyzer.analyze("药品管理法和疫苗管理法在管理原则上的表述有什么不同？")
    assert acts.facets == ("药品管理法在管理原则上的表述有什么不同?", "疫苗管理法在管理原则上的表述有什么不同?")
    places = analyzer.analyze("家属在医院拉横幅闹事，北京和宁波的规定分别怎么处理？")
    assert places.facets == ("家属在医院拉横幅闹事,北京的规定分别怎么处理?", "家属在医院拉横幅闹事,宁波的规定分别怎么处理?")
    # one act, or a question that compares nothing, has none
    assert analyzer.analyze("药品管理法和疫苗管理法分别自哪天起施行？").several
    assert analyzer.analyze("上海急救医疗服务条例从哪天开始施行？").facets == ()
    assert analyzer.analyze("疫苗可以在网上销售吗？接种单位可以从别处进疫苗吗？").facets == ()


@pytest.mark.parametrize(
    "question, size, noun",
    [
        ("广西已建成三级综合医院的那9家县医院具体是哪几家？", 9, "县医院"),
        ("广西累计建成的“急诊急救五大中心”具体是哪五大中心？", 5, "中心"),
        ("黄二丹认为“千县工程”重点要解决县医院发展的哪三个核心问题？", 3, "核心问题"),
        ("疫苗管理法所称的疫苗包括哪两类？", 2, None),
        ("传染病分为哪三类传染病？", 3, None),  # a category's members are named by it: 甲类、乙类和丙类
        ("麻风病在传染病防治法中属于哪一类传染病？", None, None),  # one item: a fact, not a set
        ("医疗废物集中处置单位应当符合哪些条件？", None, None),
    ],
)
def test_a_list_question_may_name_its_set_by_its_size(analyzer: QuestionAnalyzer, question: str, size, noun):
    q = analyzer.analyze(question)
    assert (q.set_size, q.set_noun) == (size, noun)


@pytest.mark.parametrize(
    "question, unit",
    [("门口多远以内不准停车？", "米"), ("至少要埋多深？", "米"), ("失能等级要达到几级？", "级"), ("通道宽度至少多少？", "米")],
)
def test_a_length_or_grade_asked_names_its_unit(shipped_assistant, question: str, unit: str):
    asked = shipped_assistant.analyze(question)
    assert asked.answer_type == "number" and asked.unit == unit


def test_a_modifier_opening_the_items_phrase_does_not_hide_the_items_noun(shipped_assistant):
    asked = shipped_assistant.analyze("纳入信用平台后，具体会受到哪些联合惩戒措施？")
    assert asked.item_head is not None and asked.item_head.text == "措施"
    assert asked.members_of == "措施"
