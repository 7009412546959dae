"""Each page of the portal in Chromium, showing data created through the
services' APIs: the year, a batch's ranking and selection rounds, a
department's page, the chamber board live, the member's voting page, and the
public vote on a phone; every control reached by keyboard; nothing loaded
from outside the portal."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import time

import httpx
import pytest
from playwright.sync_api import expect

from services.portal.seat_card import sign_in_link

from .conftest import BOARD, PHONE, today_in_shanghai, wait_for

pytestmark = pytest.mark.broker

YEAR = 2021
DEPTS = ["淄博市教育局", "淄博市民政局", "淄博市生态环境局", "淄博市住房和城乡建设局", "淄博市卫生健康委员会", "淄博市市场监督管理局"]
EDU, CIV, ENV, HOUSE, HEALTH, MARKET = DEPTS
MEMBERS = [{"member_id": f"m{i:02d}", "name": f"委员{i:02d}"} for i in range(1, 8)]
FIGURES = {
    "net_complaints": [120, 90, 80, 40, 30, 10],
    "npc_deputies": [30, 25, 28, 10, 12, 5],
    "working_committees": [80, 70, 60, 50, 40, 30],
    "districts_and_enterprises": [9, 8, 9, 3, 4, 2],
    "public": [300, 280, 100, 90, 60, 20],
}


def ok(response, status: int = 200):
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def cast(stack, voting, ballot_id: str, meeting_id: str, member_id: str, **body):
    headers = {"Authorization": f"Bearer {stack.member_token(member_id, meeting_id)}"}
    return ok(voting.post(f"/v1/ballots/{ballot_id}/votes", json={"member_id": member_id, **body}, headers=headers), 201)


def meeting(voting, number: str, held_on: dt.date, present: int = 7) -> dict:
    created = ok(voting.post("/v1/meetings", json={"number": number, "held_on": held_on.isoformat(), "place": "市人大常委会会议厅",
                                                  "members": MEMBERS}), 201)
    ok(voting.post(f"/v1/meetings/{created['id']}/check-ins", json={"member_ids": [m["member_id"] for m in MEMBERS[:present]]}))
    return created


@pytest.fixture(scope="package")
def year(stack, api):
    """A year plan ranked from five sources, its selection vote held, a department's commitments and progress."""
    voting, scoring, tracking = api["voting"], api["scoring"], api["tracking"]
    plan = ok(scoring.post("/v1/year-plans", json={"evaluation_year": YEAR, "departments": DEPTS,
              "batches": [{"batch": 1, "selection_month": 2, "seats": 2, "review_month": 8}]}), 201)
    for source, values in FIGURES.items():
        ok(scoring.put(f"/v1/year-plans/{plan['id']}/batches/1/sources/{source}",
                       json={"figures": dict(zip(DEPTS, values, strict=True)), "submitted_by": "市人大常委会办公厅"}))
    slate = wait_for(lambda: (r := voting.get(f"/v1/slates/{plan['id']}", params={"batch": 1})).status_code == 200 and r.json())
    selection = meeting(voting, "第四十四次会议", dt.date(YEAR, 2, 26))
    ballot = ok(voting.post(f"/v1/meetings/{selection['id']}/selection-ballots",
                            json={"slate": {"plan_id": plan["id"], "batch": 1}}), 201)
    ok(voting.post(f"/v1/ballots/{ballot['id']}/open"))
    candidates = ballot["candidates"]
    marks = [candidates[:2]] * 4 + [[candidates[0], candidates[2]]] * 2 + [[candidates[1]]]
    for member, marked in zip(MEMBERS, marks, strict=True):
        cast(stack, voting, ballot["id"], selection["id"], member["member_id"], marks=marked)
    closed = ok(voting.post(f"/v1/ballots/{ballot['id']}/close"))
    cases = wait_for(lambda: len(items := tracking.get("/v1/public/cases").json()["items"]) == 2 and items)
    case = next(c for c in cases if c["department"] == closed["winners"][0])
    commitment = ok(tracking.post(f"/v1/cases/{case['id']}/commitments", json={
        "problem": "中小学课后服务覆盖不足", "measure": "2021年秋季学期实现课后服务全覆盖",
        "responsible_unit": "基础教育科", "responsible_person": "张科长", "deadline": "2021-09-30",
        "evidence": [{"kind": "hotline_category", "reference": "教育/课后服务", "label": "12345热线：课后服务"}],
        "internal_note": "内部：经费缺口待协调"}), 201)
    ok(tracking.post(f"/v1/cases/{case['id']}/commitments", json={
        "problem": "校外培训收费投诉", "measure": "建立预收费监管账户", "responsible_unit": "民办教育科",
        "responsible_person": "李科长", "deadline": "2021-03-31", "evidence": []}), 201)
    ok(tracking.post(f"/v1/commitments/{commitment['id']}/progress", json={
        "reported_on": "2021-05-10", "text": "已在全市80%的学校开展课后服务", "percent_complete": 80,
        "attachments": [{"file_name": "课后服务开展情况.pdf", "content_type": "application/pdf",
                         "content_base64": base64.b64encode(b"%PDF-1.4 progress report").decode()}]}), 201)
    ranking = wait_for(lambda: (r := scoring.get(f"/v1/public/year-plans/{plan['id']}/batches/1/ranking")).status_code == 200 and r.json())
    return {"plan": plan, "slate": slate, "selection": selection, "ballot": closed, "case": case, "ranking": ranking}


def assert_keyboard_reaches_every_control(page) -> None:
    """Tab from the top of the page: every visible link, button and form control gets the focus."""
    count = page.evaluate("""() => {
        const controls = [...document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea, summary')]
            .filter(el => !el.disabled && el.checkVisibility({visibilityProperty: true}));
        controls.forEach((el, i) => el.setAttribute('data-kb', String(i)));
        return controls.length;
    }""")
    assert count > 0
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); }")
    reached, groups = set(), set()

    def focused():
        return page.evaluate("() => { const el = document.activeElement; return el && [el.getAttribute('data-kb'), el.type === 'radio' ? el.name : null, el.type === 'radio' ? document.querySelectorAll(`input[type=radio][name='${el.name}']`).length : 0]; }")

    for _ in range(count + 5):
        page.keyboard.press("Tab")
        index, group, size = focused()
        if index is not None:
            reached.add(int(index))
        if group and group not in groups:
            # A radio group is one tab stop; the arrow keys move within it.
            groups.add(group)
            for _ in range(size - 1):
                page.keyboard.press("ArrowDown")
                reached.add(int(focused()[0]))
    missing = page.evaluate("(reached) => [...document.querySelectorAll('[data-kb]')].filter(el => !reached.includes(Number(el.dataset.kb))).map(el => el.outerHTML.slice(0, 120))", sorted(reached))
    assert missing == [], f"not reachable by keyboard: {missing}"


def test_home_shows_the_year_the_chosen_departments_and_the_next_meeting(year, api, visit):
    upcoming = meeting(api["voting"], "第五十次会议", today_in_shanghai() + dt.timedelta(days=30))
    v = visit()
    page = v.open("/")
    expect(page.locator("h1")).to_have_text(f"{YEAR}年度专项工作评议")
    main = page.locator("main")
    expect(main).to_contain_text("第1批")
    expect(main).to_contain_text("2月会议")
    expect(main).to_contain_text("8月会议")
    for winner in year["ballot"]["winners"]:
        expect(page.get_by_role("link", name=winner)).to_be_visible()
    expect(main).to_contain_text("整改")  # each one's stage
    expect(page.locator("#next-meeting + p")).to_contain_text(upcoming["number"])
    v.screenshot("home")
    assert_keyboard_reaches_every_control(page)
    page.get_by_role("link", name=year["case"]["department"]).click()
    expect(page.locator("h1")).to_have_text(year["case"]["department"])


def test_ranking_shows_contributions_weights_slate_and_the_selection_rounds(year, visit):
    v = visit()
    page = v.open(f"/plans/{year['plan']['id']}/batches/1")
    ranking = year["ranking"]["ranking"]
    bars = page.locator("figure.chart svg rect")
    expect(bars).to_have_count(len(ranking) * 5)  # five weighted contributions per department
    legend = page.locator(".legend")
    expect(legend).to_contain_text("35%")
    expect(legend).to_contain_text("网上社会投票：10%")
    table = page.locator("table").first
    expect(table.locator("tbody tr")).to_have_count(len(ranking))
    top = ranking[0]
    row = table.locator("tbody tr").first
    expect(row).to_contain_text(top["department"])
    expect(row).to_contain_text(f"{top['score']:.2f}".rstrip("0").rstrip("."))
    expect(page.locator("figcaption")).to_contain_text(f"共{len(year['ranking']['slate'])}个")
    rounds = page.locator("article.round")
    expect(rounds).to_have_count(1)
    for winner in year["ballot"]["winners"]:
        expect(rounds.locator("tr", has_text=winner)).to_contain_text("当选")
    v.screenshot("ranking")
    assert_keyboard_reaches_every_control(page)


def test_department_page_shows_commitments_progress_attachment_timeline_and_votes(year, stack, api, visit):
    case = year["case"]
    voting = api["voting"]
    review = meeting(voting, "第四十八次会议", dt.date(YEAR, 8, 27), present=6)
    ballot = ok(voting.post(f"/v1/meetings/{review['id']}/ballots", json={"department": case["department"], "evaluation_year": YEAR}), 201)
    ok(voting.post(f"/v1/ballots/{ballot['id']}/open"))
    for member, choice in zip(MEMBERS, ["satisfied"] * 4 + ["basically_satisfied", "unsatisfied"], strict=False):
        cast(stack, voting, ballot["id"], review["id"], member["member_id"], choice=choice)
    ok(voting.post(f"/v1/ballots/{ballot['id']}/close"))
    wait_for(lambda: api["scoring"].get("/v1/public/satisfaction-results", params={"department": case["department"]}).json()["items"])
    # The portal keeps what it read for PORTAL_PAGE_CACHE_SECONDS: the result shows once that has passed.
    wait_for(lambda: "vote-result" in httpx.get(stack.url("portal") + f"/cases/{case['id']}").text)

    v = visit()
    page = v.open(f"/cases/{case['id']}")
    commitments = page.locator("article.commitment")
    expect(commitments).to_have_count(2)
    first = commitments.first
    for text in ("中小学课后服务覆盖不足", "2021年秋季学期实现课后服务全覆盖", "基础教育科", "2021年9月30日", "已在全市80%的学校开展课后服务"):
        expect(first).to_contain_text(text)
    expect(commitments.nth(1).locator(".flag")).to_have_text("已逾期")  # 2021-03-31 has passed
    expect(page.locator("main")).not_to_contain_text("经费缺口")  # no internal notes
    expect(page.locator("main")).not_to_contain_text("张科长")
    votes = page.locator("article.vote-result")
    expect(votes).to_have_count(1)
    expect(votes).to_contain_text("满意")
    expect(votes.locator("tbody td")).to_have_text(["4", "1", "1", "6", "7"])
    expect(page.locator("ol.timeline li").first).to_be_visible()
    v.screenshot("department")
    assert_keyboard_reaches_every_control(page)
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("课后服务开展情况.pdf")).click()
    assert download.value.suggested_filename == "课后服务开展情况.pdf"
    assert open(download.value.path(), "rb").read() == b"%PDF-1.4 progress report"


def test_board_follows_the_meeting_shows_a_vote_within_a_second_and_the_result_at_close(year, stack, api, visit):
    voting = api["voting"]
    hall = meeting(voting, "第四十九次会议", today_in_shanghai(), present=6)
    v = visit(**BOARD)
    page = v.open(f"/board/{hall['id']}")
    expect(page.get_by_test_id("quorum")).to_have_text("应到7人，实到6人，符合法定人数")
    expect(page.locator(".board-wait")).to_have_text("等待表决")

    department = year["case"]["department"]
    ballot = ok(voting.post(f"/v1/meetings/{hall['id']}/ballots", json={"department": department, "evaluation_year": YEAR,
                                                                         "title": f"对{department}专项工作报告的满意度测评"}), 201)
    ok(voting.post(f"/v1/ballots/{ballot['id']}/open"))
    # Nobody touches the board: it picks up the ballot by itself.
    expect(page.locator(".board-title")).to_have_text(ballot["title"], timeout=5000)
    expect(page.get_by_test_id("turnout")).to_contain_text("已表决 0 人")

    cast(stack, voting, ballot["id"], hall["id"], "m01", choice="satisfied")
    # The vote is on the hall's screen within a second of its 201.
    expect(page.get_by_test_id("turnout")).to_contain_text("已表决 1 人", timeout=1000)
    v.screenshot("board-open")

    for member, choice in zip(["m02", "m03", "m04", "m05"], ["satisfied", "satisfied", "satisfied", "unsatisfied"], strict=True):
        cast(stack, voting, ballot["id"], hall["id"], member, choice=choice)
    ok(voting.post(f"/v1/ballots/{ballot['id']}/close"))
    result = page.get_by_test_id("result")
    expect(result.locator(".counts li")).to_have_text(["满意4", "基本满意0", "不满意1", "未按1"], timeout=3000)
    expect(result.locator(".verdict")).to_have_text("测评结果：满意", timeout=15000)  # scoring's grade under the plan's rule
    v.screenshot("board-result")

    # The next ballot: an appointment, 赞成/反对/弃权/未按 and passed or not.
    resolution = ok(voting.post(f"/v1/meetings/{hall['id']}/resolution-ballots", json={
        "title": "人事任免事项", "questions": [{"text": "任命张三为淄博市教育局局长"}]}), 201)
    ok(voting.post(f"/v1/ballots/{resolution['id']}/open"))
    expect(page.locator(".board-title")).to_have_text("人事任免事项", timeout=5000)
    question = resolution["questions"][0]["id"]
    for member, answer in zip(["m01", "m02", "m03", "m04", "m05"], ["yes", "yes", "yes", "yes", "no"], strict=True):
        cast(stack, voting, resolution["id"], hall["id"], member, answers={question: answer})
    ok(voting.post(f"/v1/ballots/{resolution['id']}/close"))
    expect(page.get_by_test_id("result").locator(".counts li")).to_have_text(["赞成4", "反对1", "弃权0", "未按1"], timeout=3000)
    expect(page.get_by_test_id("result").locator(".verdict")).to_have_text("通过")


def test_a_member_votes_on_the_voting_page_gets_a_receipt_and_cannot_vote_twice(year, stack, api, visit):
    voting = api["voting"]
    seat = meeting(voting, "第四十七次会议", dt.date(YEAR, 6, 28))
    ballot = ok(voting.post(f"/v1/meetings/{seat['id']}/ballots", json={"department": year["case"]["department"],
                                                                         "evaluation_year": YEAR}), 201)
    ok(voting.post(f"/v1/ballots/{ballot['id']}/open"))
    token = ok(voting.post(f"/v1/meetings/{seat['id']}/member-tokens", json={"member_id": "m07"}))["token"]

    v = visit(**PHONE)
    v.open("/vote/sign-in")
    page = v.page
    assert_keyboard_reaches_every_control(page)
    # The seat card's QR code opens the sign-in page with the token in the fragment.
    page.goto(sign_in_link(v.portal, token))
    expect(page.locator("h1")).to_have_text(ballot["title"])
    assert page.url == f"{v.portal}/vote/{ballot['id']}"
    expect(page.locator(".member-bar")).to_contain_text("委员07")
    v.screenshot("vote-ballot")
    assert_keyboard_reaches_every_control(page)
    page.get_by_label("基本满意").check()
    page.get_by_role("button", name="下一步：确认").click()
    expect(page.locator(".summary")).to_have_text("基本满意")
    page.get_by_role("button", name="确认投票").click()
    receipt = page.get_by_test_id("receipt").inner_text().strip()
    assert receipt
    v.screenshot("vote-receipt")
    counted = ok(voting.get(f"/v1/ballots/{ballot['id']}/receipts/{receipt}"))
    assert counted["counted"] is True

    page.goto(f"{v.portal}/vote/{ballot['id']}")
    page.get_by_label("满意", exact=True).check()
    page.get_by_role("button", name="下一步：确认").click()
    page.get_by_role("button", name="确认投票").click()
    expect(page.get_by_test_id("reason")).to_have_text("已投票")  # voting's own reason, in Chinese
    assert ok(voting.get(f"/v1/ballots/{ballot['id']}"))["votes_cast"] == 1


def test_a_public_voter_completes_a_vote_on_a_phone(year, stack, api, visit):
    voting = api["voting"]
    now = dt.datetime.now(dt.UTC)
    poll = ok(voting.post("/v1/public-polls", json={
        "meeting_id": year["selection"]["id"], "title": "2021年度专项工作评议对象网上社会投票", "evaluation_year": YEAR,
        "options": DEPTS, "max_choices": 2, "opens_at": (now - dt.timedelta(minutes=1)).isoformat(),
        "closes_at": (now + dt.timedelta(hours=1)).isoformat()}), 201)
    v = visit(**PHONE)
    page = v.open(f"/polls/{poll['id']}")
    expect(page.get_by_test_id("poll-turnout")).to_contain_text("已有 0 人参加投票")
    v.screenshot("poll")
    assert_keyboard_reaches_every_control(page)
    phone = "13800138000"
    if page.get_by_label("手机号码", exact=True).count():  # the SMS verification flow (issue 12)
        page.get_by_label("手机号码", exact=True).fill(phone)
        page.get_by_role("button", name="获取验证码").click()
        outbox = stack.var_dir / "sms-outbox.jsonl"
        code = wait_for(lambda: outbox.exists() and re.findall(r"\d{6}", json.loads(outbox.read_text().splitlines()[-1])["text"]))[0]
        page.get_by_label("短信验证码").fill(code)
        page.get_by_role("button", name="验证并领取选票").click()
    else:
        page.get_by_label("手机号码或身份证号码").fill(phone)
        page.get_by_role("button", name="领取选票").click()
    boxes = page.locator("input[name=choices]")
    expect(boxes).to_have_count(len(DEPTS))
    assert sorted(boxes.evaluate_all("els => els.map(e => e.value)")) == sorted(DEPTS)  # the voter's own order of the same options
    v.screenshot("poll-ballot")
    assert_keyboard_reaches_every_control(page)
    page.get_by_label(EDU).check()
    page.get_by_label(ENV).check()
    expect(page.get_by_label(MARKET)).to_be_disabled()  # the limit: two
    page.get_by_role("button", name="下一步：确认").click()
    expect(page.locator(".summary li")).to_have_count(2)
    assert sorted(page.locator(".summary li").all_inner_texts()) == sorted([EDU, ENV])  # in the paper's order
    page.get_by_role("button", name="确认提交").click()
    expect(page.locator("h1")).to_have_text("投票成功")
    v.screenshot("poll-done")

    page.goto(f"{v.portal}/polls/{poll['id']}")
    expect(page.get_by_test_id("poll-turnout")).to_contain_text("已有 1 人参加投票", timeout=5000)
    ok(voting.patch(f"/v1/public-polls/{poll['id']}/schedule", json={"closes_at": dt.datetime.now(dt.UTC).isoformat()}))
    time.sleep(0.05)
    ok(voting.post(f"/v1/public-polls/{poll['id']}/tally"))
    page.reload()
    results = page.locator("#poll-live table tbody tr")
    expect(results.first).to_contain_text("1")
    expect(page.locator("#poll-live")).to_contain_text("投票结果")
