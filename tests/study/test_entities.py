"""What an item can test in a provision: figures, time limits, periods, bodies and inline lists."""

from __future__ import annotations

from study.entities import body_core, inline_lists, is_body, normalise, quantities, same_function, write_quantity


def test_figures_time_limits_and_periods_with_their_values() -> None:
    found = quantities("两次采集间隔期不少于六个月，应当在二十四小时内报告，每半年检查一次，最多不得超过400毫升。")
    assert [(q.text, q.kind, q.value, q.unit) for q in found] == [
        ("两次", "figure", 2.0, "次") if False else ("六个月", "figure", 6.0, "月"),
        ("二十四小时内", "deadline", 24.0, "小时"),
        ("每半年", "period", None, "半年"),
        ("400毫升", "figure", 400.0, "毫升"),
    ]
    assert quantities("7个工作日内")[0].key == ("deadline", "工作日", 7.0)
    assert quantities("三日内")[0].chinese and not quantities("3日内")[0].chinese


def test_years_dates_ordinals_and_compounds_are_no_figures() -> None:
    for text in ("本法自二〇一九年十二月一日起施行", "2019年12月1日", "第三十日", "上一年度居民人均可支配收入",
                 "每年1月1日起", "每年年底前缴纳", "统一管理", "指定一名工作人员"):
        assert quantities(text) == [], text


def test_normalise_reads_chinese_numerals_and_drops_spaces_and_punctuation() -> None:
    assert normalise("二十四小时内") == normalise("24 小时内。") == "24小时内"
    assert normalise("两年") == normalise("2年") and normalise("零点五毫克") == normalise("0.5毫克")
    assert normalise("80%") == "80%" and normalise("十二月") != normalise("十月")


def test_a_quantity_rewritten_keeps_its_unit_and_style() -> None:
    assert write_quantity(3, "六个月", True) == "三个月"
    assert write_quantity(2, "六个月", True) == "两个月"
    assert write_quantity(12, "6个月", False) == "12个月"
    assert write_quantity(14, "七日内", True) == "十四日内"
    assert write_quantity(100000, "5万元", False) == "10万元" and write_quantity(100000, "五万元", True) == "十万元"
    assert write_quantity(2000, "1万元", False) == "2000元"
    assert quantities("处5万元以上")[0].key == quantities("处五万元以上")[0].key == ("figure", "元", 50000.0)


def test_named_bodies_and_their_function() -> None:
    assert is_body("国务院卫生行政部门") and is_body("胸痛中心") and is_body("医疗废物集中处置单位")
    for phrase in ("有关部门", "该机构", "医疗机构和血站", "取得《医疗机构", "国务院有关部门", "无医疗机构", "个人"):
        assert not is_body(phrase), phrase
    assert body_core("县级以上地方人民政府卫生行政部门") == "卫生行政部门"
    assert same_function("国务院卫生行政部门", "县级以上人民政府卫生健康主管部门")  # the same office, renamed
    assert not same_function("公安机关", "卫生行政部门")


def test_inline_lists_and_their_members() -> None:
    (jia,) = inline_lists("甲类传染病是指:鼠疫、霍乱。")
    assert jia.lead == "甲类传染病" and [m for _, _, m in jia.members] == ["鼠疫", "霍乱"]
    (bing,) = inline_lists("丙类传染病是指:流行性感冒、风疹、丝虫病，除霍乱、细菌性和阿米巴性痢疾以外的感染性腹泻病。")
    assert [m for _, _, m in bing.members] == ["流行性感冒", "风疹", "丝虫病"]  # the carve-out is no member
    text = "甲类传染病是指:鼠疫、霍乱。"
    assert all(text[s:e] == m for s, e, m in jia.members)
