"""The portal's pure parts: the board's wording, the stacked bars' geometry,
the seat card's link, the Chinese half of a problem title, Beijing time."""

from __future__ import annotations

import subprocess
import sys

from services.portal.domain.board import not_pressed, quorum_line, turnout_percent
from services.portal.domain.chart import stacked_bars
from services.portal.seat_card import seat_card_svg, sign_in_link
from services.portal.upstream import UpstreamProblem
from services.portal.web import cn_date, shanghai


def test_quorum_line_and_counts():
    assert quorum_line(60, 45, True) == "应到60人，实到45人，符合法定人数"
    assert quorum_line(60, 30, False) == "应到60人，实到30人，不足法定人数"
    assert not_pressed(45, 43) == 2 and not_pressed(None, None) == 0 and not_pressed(3, 5) == 0
    assert turnout_percent(43, 45) == 96 and turnout_percent(0, 0) == 0


def test_stacked_bars_lay_the_weighted_contributions_end_to_end():
    ranking = [{"rank": 1, "department": "甲", "score": 60.0, "on_slate": True, "explanation": [
        {"source": "public", "source_label": "网上社会投票", "contribution": 10.0},
        {"source": "net_complaints", "source_label": "热线", "contribution": 35.0},
        {"source": "npc_deputies", "source_label": "代表", "contribution": 15.0}]}]
    chart = stacked_bars(ranking, width=500, label_width=100)
    plot = 500 - 100 - 56
    [bar] = chart.bars
    assert [s.source for s in bar.segments] == ["net_complaints", "npc_deputies", "public"]  # the legend's order
    assert bar.segments[0].x == 100 and abs(bar.segments[0].width - 0.35 * plot) < 1e-9
    assert abs(bar.segments[1].x - (100 + 0.35 * plot)) < 1e-9
    assert abs(sum(s.width for s in bar.segments) - 0.60 * plot) < 1e-9


def test_the_chinese_half_of_a_problem_title_is_what_the_page_shows():
    assert UpstreamProblem(409, {"title": "Already voted 已投票", "type": "urn:pingyi:problem:already-voted"}).chinese == "已投票"
    assert UpstreamProblem(409, {"title": "Already voted 已投票", "type": "urn:pingyi:problem:already-voted"}).slug == "already-voted"
    assert UpstreamProblem(500, {"title": "Oops"}).chinese == "Oops"


def test_times_are_shown_in_beijing_time():
    assert shanghai("2021-02-26T02:30:00Z") == "2021年2月26日 10:30"
    assert shanghai("2021-12-31T16:30:00+00:00") == "2022年1月1日 00:30"
    assert cn_date("2021-08-27") == "2021年8月27日"


def test_the_seat_card_opens_the_sign_in_with_the_token_in_the_fragment(tmp_path):
    link = sign_in_link("http://127.0.0.1:8000/", "a.b+c")
    assert link == "http://127.0.0.1:8000/vote/sign-in#token=a.b%2Bc"
    svg = seat_card_svg(link, title="m01 表决登录")
    assert svg.startswith(b"<?xml") and b"<svg" in svg and "m01 表决登录".encode() in svg
    card = tmp_path / "card.svg"
    done = subprocess.run([sys.executable, "-m", "shared.ops.cli", "member-token", "m01", "meeting-1", "--seat-card", str(card)],
                          capture_output=True, text=True, timeout=300)  # a busy machine starts Python slowly
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().count(".") == 2  # the JWT
    assert card.read_bytes().startswith(b"<?xml")
