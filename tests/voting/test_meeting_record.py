"""The meeting's voting record (会议表决结果): JSON, printable HTML and PDF in Chinese.
Attendance, then each ballot in agenda order with counts, 未按, invalid ballots and
the outcome with its base; never who voted what."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from services.voting.handlers import handle_score_computed
from shared.messaging.events import SatisfactionScore, ScoreComputed
from shared.messaging.inbox import handle_once

from ._support import assert_problem, cast, check_in, create_ballot, create_meeting, member_ids, open_ballot, roster
from ._support import mark as mark_as_member

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
EDU, CIVIL, LAND = "淄博市教育局", "淄博市民政局", "淄博市自然资源和规划局"


def _close(client, ballot_id: str) -> dict:
    resp = client.post(f"/v1/ballots/{ballot_id}/close")
    assert resp.status_code == 200, resp.text
    return resp.json()


def _graded(voting, ballot: dict, grade: str, label: str, denominator: int) -> None:
    score = SatisfactionScore(ballot_id=ballot["id"], department=ballot["department"], evaluation_year=2021, vote_round=1,
                              meeting_id=ballot["meeting_id"], meeting_date="2021-02-26", grade=grade, grade_label=label,
                              counts={}, denominator=denominator, denominator_basis="all_members")
    event = ScoreComputed(computation_id=str(uuid.uuid4()), kind="satisfaction", satisfaction=score)
    handle_once(voting.db, voting.models.InboxMessage, handle_score_computed, event.envelope(producer="scoring", key=ballot["department"]))


def _meeting_with_votes(voting) -> dict:
    client = voting.client
    meeting = create_meeting(client, members=9, place="淄博市人大常委会机关会议厅")
    ids = member_ids(9)
    check_in(client, meeting["id"], ids[:7])  # 委员08 and 委员09 are absent
    resp = client.post(f"/v1/meetings/{meeting['id']}/nonvoting-attendees",
                       json={"attendees": [{"name": "桑珠次仁", "affiliation": "淄博市人民政府副市长"}]})
    assert resp.status_code == 200, resp.text

    # 1. Satisfaction: 5 满意, 1 基本满意, and 委员07 present but pressed nothing (未按).
    satisfaction = create_ballot(client, meeting["id"], department=EDU)
    open_ballot(client, satisfaction["id"])
    for member, choice in zip(ids[:6], ["satisfied"] * 5 + ["basically_satisfied"], strict=True):
        assert cast(client, satisfaction["id"], member, choice).status_code == 201
    _close(client, satisfaction["id"])
    _graded(voting, satisfaction, "basically_satisfied", "基本满意", 9)

    # 2. Competitive selection, 2 seats: EDU 6 passes (> 4.5); CIVIL and LAND 4 each: a supplementary round.
    resp = client.post(f"/v1/meetings/{meeting['id']}/selection-ballots",
                       json={"evaluation_year": 2021, "candidates": [EDU, CIVIL, LAND], "seats": 2})
    selection = resp.json()
    open_ballot(client, selection["id"])
    for member, marks in zip(ids[:7], [[EDU, CIVIL]] * 3 + [[EDU, LAND]] * 3 + [[CIVIL, LAND]], strict=True):
        assert mark_as_member(client, selection["id"], member, marks).status_code == 201
    first = _close(client, selection["id"])
    follow_up = first["follow_up_ballot_id"]
    open_ballot(client, follow_up)
    for member, marks in zip(ids[:7], [[LAND]] * 5 + [[CIVIL]] + [[CIVIL, LAND]], strict=True):
        assert mark_as_member(client, follow_up, member, marks).status_code == 201
    _close(client, follow_up)

    # 3. Appointments by show of hands (the devices failed): two questions, one fails.
    resp = client.post(f"/v1/meetings/{meeting['id']}/resolution-ballots", json={
        "title": "人事任免案", "questions": [{"text": "任命张伟为淄博市教育局局长"}, {"text": "任命李娜为淄博市民政局局长"}]})
    assert resp.status_code == 201, resp.text
    appointments = resp.json()
    q1, q2 = (q["id"] for q in appointments["questions"])
    resp = client.post(f"/v1/ballots/{appointments['id']}/show-of-hands", json={
        "questions": {q1: {"yes": 6, "no": 1, "abstain": 0}, q2: {"yes": 4, "no": 2, "abstain": 1}}})
    assert resp.status_code == 200, resp.text
    return meeting


def test_record_as_json(voting):
    meeting = _meeting_with_votes(voting)
    resp = voting.client.get(f"/v1/meetings/{meeting['id']}/record")
    assert resp.status_code == 200, resp.text
    record = resp.json()
    assert (record["number"], record["held_on"], record["place"]) == ("第四十四次会议", "2021-02-26", "淄博市人大常委会机关会议厅")
    assert (record["members_total"], record["present"], record["absent"]) == (9, 7, ["委员08", "委员09"])
    assert record["nonvoting_attendees"] == [{"name": "桑珠次仁", "affiliation": "淄博市人民政府副市长"}]

    satisfaction, main, supplementary, appointments = record["ballots"]
    assert (satisfaction["kind_label"], satisfaction["present_at_open"], satisfaction["present_at_close"]) == ("满意度测评", 7, 7)
    assert satisfaction["quorum_line"] == "应到9人，实到7人，符合法定人数"
    assert {r["label"]: r["votes"] for r in satisfaction["results"]} == {"满意": 5, "基本满意": 1, "不满意": 0}
    assert (satisfaction["votes_cast"], satisfaction["did_not_vote"], satisfaction["invalid"]) == (6, 1, 0)
    assert (satisfaction["grade"], satisfaction["outcome_label"], satisfaction["base"]) == ("basically_satisfied", "基本满意", 9)

    assert (main["round_label"], main["winners"], main["passed"]) == ("第一轮", [EDU], False)
    assert {r["code"]: r["votes"] for r in main["results"]} == {EDU: 6, CIVIL: 4, LAND: 4}
    assert main["outcome_label"].startswith(f"当选：{EDU}") and "1个名额未选出" in main["outcome_label"]
    assert (supplementary["round_kind"], supplementary["parent_ballot_id"], supplementary["winners"]) == ("supplementary", main["id"], [LAND])
    assert (supplementary["invalid"], supplementary["did_not_vote"]) == (1, 0)

    assert appointments["show_of_hands"] is True and appointments["did_not_vote"] is None
    assert [(q["text"], q["passed"]) for q in appointments["questions"]] == [
        ("任命张伟为淄博市教育局局长", True), ("任命李娜为淄博市民政局局长", False)]
    assert (appointments["base"], appointments["outcome_label"]) == (9, "未全部通过")
    assert "全体组成人员" in appointments["base_label"]

    # Secret ballots: no present member's name or id appears anywhere in the record.
    text = resp.text
    for member in roster(7):
        assert member["name"] not in text and f'"{member["member_id"]}"' not in text


def test_record_tallies_agree_with_each_ballot(voting):
    meeting = _meeting_with_votes(voting)
    record = voting.client.get(f"/v1/meetings/{meeting['id']}/record").json()
    for entry in record["ballots"]:
        ballot = voting.client.get(f"/v1/ballots/{entry['id']}").json()
        assert entry["results"] == ballot["results"] and entry["invalid"] == ballot["invalid"]


def test_quorum_line_says_when_it_fails(voting):
    from services.voting.records.service import quorum_line

    assert quorum_line(45, 23) == "应到45人，实到23人，符合法定人数"
    assert quorum_line(45, 22) == "应到45人，实到22人，不符合法定人数"
    assert quorum_line(44, 22) == "应到44人，实到22人，不符合法定人数"


def test_record_as_html_and_by_accept(voting):
    meeting = _meeting_with_votes(voting)
    html = voting.client.get(f"/v1/meetings/{meeting['id']}/record", params={"format": "html"})
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    for text in ("第四十四次会议表决结果", "2021年2月26日", "应到9人，实到7人，符合法定人数", "委员08、委员09", "桑珠次仁",
                 "未按", "举手表决", "另行选举", f"当选：{LAND}"):
        assert text in html.text, text
    by_accept = voting.client.get(f"/v1/meetings/{meeting['id']}/record", headers={"Accept": "text/html"})
    assert by_accept.headers["content-type"].startswith("text/html")
    assert voting.client.get(f"/v1/meetings/{meeting['id']}/record").headers["content-type"] == "application/json"


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils missing: `make tools` installs it")
def test_record_as_pdf_renders_chinese(voting, tmp_path):
    meeting = _meeting_with_votes(voting)
    resp = voting.client.get(f"/v1/meetings/{meeting['id']}/record", headers={"Accept": "application/pdf"})
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/pdf"
    pdf = tmp_path / "record.pdf"
    pdf.write_bytes(resp.content)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    for name in ("第四十四次会议表决结果", EDU, CIVIL, LAND, "符合法定人数", "桑珠次仁"):
        assert name in text, name
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")], check=True)
    (png,) = tmp_path.glob("page*.png")
    assert png.stat().st_size > 10_000
    if voting.backend == "sqlite":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(png, SCREENSHOTS / "meeting-record.png")


def test_record_refusals(voting):
    assert_problem(voting.client.get("/v1/meetings/nope/record"), 404, "not-found")
    meeting = create_meeting(voting.client, members=3)
    assert voting.anonymous.get(f"/v1/meetings/{meeting['id']}/record").status_code == 401
    assert_problem(voting.client.get(f"/v1/meetings/{meeting['id']}/record", params={"format": "docx"}), 422, "validation-error")
