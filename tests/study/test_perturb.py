"""False statements: one controlled change, never to what the document states."""

from __future__ import annotations

from study.entities import quantities
from study.perturb import change_number, change_period, flip_modal, plausible_values, swap_subject

XIANXUE = "血站对献血者每次采集血液量一般为二百毫升，最多不得超过四百毫升，两次采集间隔期不少于六个月。"


def test_a_number_changes_by_a_plausible_amount_to_a_value_not_stated() -> None:
    stated = {q.key for q in quantities(XIANXUE)} | {("figure", "月", 12.0)}
    for pick in range(6):
        pert = change_number(XIANXUE, 0, stated, pick)
        assert pert is not None and pert.kind == "number"
        new = quantities(pert.new)[0]
        assert new.key not in stated and new.unit in ("毫升", "月")
        assert pert.statement == XIANXUE.replace(pert.old, pert.new, 1)
    assert 48 in plausible_values(24, "小时") and 12 in plausible_values(24, "小时")
    assert all(0 < v <= 100 for v in plausible_values(95, "%"))


def test_the_modal_flips_only_where_the_result_is_clearly_false() -> None:
    pert = flip_modal("医疗卫生机构应当建立、健全医疗废物管理责任制。", 0)
    assert pert is not None and pert.statement == "医疗卫生机构不得建立、健全医疗废物管理责任制。"
    back = flip_modal("医疗卫生机构不得露天存放医疗废物。", 0)
    assert back is not None and back.statement == "医疗卫生机构应当露天存放医疗废物。"
    assert flip_modal("应当及时、准确、全面公布信息。", 0) is None  # a manner: 「不得及时」 is a muddle
    assert flip_modal("院前医疗急救机构不得擅自停业。", 0) is None  # misconduct: 「应当擅自」 is nonsense
    assert flip_modal("禁止任何单位和个人转让、买卖医疗废物。", 0) is None  # 禁止, not 不得
    assert flip_modal("暂时贮存的时间不得超过2天。", 0) is None  # a threshold, not a prohibition
    assert flip_modal("应当公示，但是涉及国家秘密的除外。", 0) is None  # an exception
    assert flip_modal("应当登记，并应当保存三年。", 0) is None  # two markers


def test_a_period_moves_to_its_neighbour_and_a_time_limit_to_another_unit() -> None:
    pert = change_period("每半年向所在地环境保护行政主管部门报告一次。", 0, set())
    assert pert is not None and pert.new == "每年"
    limit = change_period("应当在三日内报告。", 0, set())
    assert limit is not None and limit.new == "三个月内"
    assert change_period("应当在三日内报告。", 0, {("deadline", "月", 3.0)}) != limit  # stated elsewhere: not used


def test_a_subject_is_swapped_only_where_it_opens_the_clause() -> None:
    pert = swap_subject("用人单位应当为劳动者建立职业健康监护档案。", 0, "用人单位", "疾病预防控制机构")
    assert pert is not None and pert.statement.startswith("疾病预防控制机构应当")
    assert swap_subject("卫生行政部门应当指导用人单位建立档案。", 0, "用人单位", "血站") is None  # an object
