"""`pingyi demo`: the 2021 evaluation year played through the three services'
public HTTP APIs, as the committee's office would run it: the plan, the 2020
12345 data, nomination polls, the public vote, the ranking and slate, the
February selection meeting (第四十四次会议, 2021-02-26) with a tie that needs a
runoff, commitments and progress, the August and October review meetings with
an unsatisfied department re-reporting and escalating, deputies' motions and
audit findings. Every creating request carries an Idempotency-Key derived from
what it creates, and every step first looks for what it would make, so a
second run finds the year and changes nothing. The summary is read back from
the APIs."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

YEAR = 2021
DEMO_NAMESPACE = uuid.UUID("5f0d7c1e-2021-4e0a-9b7a-70696e677969")
# The seed's batch 1 (2021-02-26) first; then departments in the same style (淄博市…局).
DEPARTMENTS = [
    "淄博市教育局", "淄博市民政局", "淄博市自然资源和规划局", "淄博市住房和城乡建设局", "淄博市卫生健康委", "淄博市市场监管局",
    "淄博市人力资源和社会保障局", "淄博市交通运输局", "淄博市生态环境局", "淄博市城市管理局", "淄博市农业农村局",
    "淄博市文化和旅游局", "淄博市水利局", "淄博市医疗保障局", "淄博市应急管理局", "淄博市商务局", "淄博市退役军人事务局",
    "淄博市公安局", "淄博市财政局", "淄博市审计局", "淄博市统计局", "淄博市司法局", "淄博市科学技术局", "淄博市工业和信息化局",
    "淄博市发展和改革委员会", "淄博市大数据局", "淄博市行政审批服务局", "淄博市地方金融监管局", "淄博市林业局", "淄博市粮食和物资储备局",
]
SEAT_WORDS = "一二三四五六七八九十"


@dataclass(frozen=True)
class Scale:
    name: str
    departments: int
    seats_per_batch: int
    members: int
    absent: int
    work_orders: int
    deputies: int
    committee_voters: int
    district_voters: int
    public_voters: int


SCALES = {
    "small": Scale("small", departments=8, seats_per_batch=2, members=15, absent=2, work_orders=3_000,
                   deputies=40, committee_voters=12, district_voters=15, public_voters=60),
    "city": Scale("city", departments=60, seats_per_batch=6, members=45, absent=2, work_orders=1_000_000,
                  deputies=500, committee_voters=40, district_voters=60, public_voters=20_000),
}


def department_names(count: int) -> list[str]:
    names = list(DEPARTMENTS[:count])
    extra = ["淄博市{}局".format(w) for w in ("档案", "人民防空", "机关事务管理", "供销", "住房公积金管理", "园林", "海洋渔业", "气象",
                                              "地震", "邮政管理", "烟草专卖", "体育", "广播电视", "外事办公室", "侨务", "民族宗教事务",
                                              "信访", "国资", "经济合作", "口岸", "能源", "投资促进", "城乡规划", "市政公用",
                                              "公共资源交易", "残疾人事务", "老龄工作", "妇女儿童工作", "青少年事务", "殡葬管理")]
    return (names + extra)[:count]


class Step(Exception):
    """A request the year cannot go on without failed: say which and why."""


@dataclass
class Year:
    voting: httpx.Client
    scoring: httpx.Client
    tracking: httpx.Client
    scale: Scale
    console: Console
    rng: random.Random = field(default_factory=lambda: random.Random(2021))
    facts: dict[str, Any] = field(default_factory=dict)
    # Where the file SMS gateway writes (VOTING_SMS_GATEWAY=file:PATH), for the public vote's codes.
    sms_outbox: Path = Path("var/sms-outbox.jsonl")

    # --- HTTP helpers -----------------------------------------------------------

    @staticmethod
    def key(*parts: object) -> dict[str, str]:
        return {"Idempotency-Key": str(uuid.uuid5(DEMO_NAMESPACE, "/".join(map(str, parts))))}

    def ok(self, resp: httpx.Response, *expected: int) -> Any:
        if resp.status_code not in (expected or (200, 201)):
            raise Step(f"{resp.request.method} {resp.request.url.path} → {resp.status_code}: {resp.text[:400]}")
        return resp.json() if resp.headers.get("content-type", "").startswith("application/json") else resp.content

    def create(self, client: httpx.Client, path: str, body: dict, *parts: object) -> dict:
        return self.ok(client.post(path, json=body, headers=self.key(path, *parts)), 200, 201)

    def current(self, client: httpx.Client, collection: str, created: dict) -> dict:
        """What a (possibly replayed) create made, as it stands now."""
        return self.ok(client.get(f"{collection}/{created['id']}"))

    def items(self, client: httpx.Client, path: str, **params) -> list[dict]:
        out, cursor = [], None
        while True:
            page = self.ok(client.get(path, params={"limit": 100, **params, **({"cursor": cursor} if cursor else {})}))
            out += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return out

    def wait(self, what: str, fetch, timeout: float = 60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = fetch()
            if value:
                return value
            time.sleep(0.25)
        raise Step(f"waited {timeout:.0f}s for {what}")

    # --- the year ---------------------------------------------------------------

    def play(self) -> None:
        from faker import Faker

        self.faker = Faker("zh_CN")
        self.faker.seed_instance(2021)
        s = self.scale
        self.departments = department_names(s.departments)
        self.members = [{"member_id": f"cw{i:02d}", "name": self.faker.name()} for i in range(1, s.members + 1)]
        steps = [
            ("年度评议工作方案", self.plan),
            ("导入2020年12345工单", self.hotline),
            ("人大代表、委室、区县和企业推荐投票", self.nominations),
            ("网上社会投票", self.public_vote),
            ("综合排名与候选名单", self.ranking),
            ("第四十四次会议差额票决", self.selection),
            ("整改承诺与进展", self.commitments),
            ("八月评议会议", self.august),
            ("十月评议会议（再次表决）", self.october),
            ("代表议案与审计查出问题", self.motions_and_audits),
        ]
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=self.console, transient=False) as progress:
            year = progress.add_task("2021年度专项工作评议", total=len(steps))
            for label, step in steps:
                progress.update(year, description=f"2021年度专项工作评议 · {label}")
                step(progress)
                progress.advance(year)

    # 1. The plan
    def plan(self, progress: Progress) -> None:
        existing = [p for p in self.items(self.scoring, "/v1/year-plans") if p["evaluation_year"] == YEAR]
        if existing:
            self.plan_out = existing[0]
            return
        seats = self.scale.seats_per_batch
        body = {
            "evaluation_year": YEAR, "title": f"淄博市人大常委会{YEAR}年评议工作方案",
            "batches": [{"batch": 1, "selection_month": 2, "seats": seats, "review_month": 8},
                        {"batch": 2, "selection_month": 4, "seats": seats, "review_month": 10}],
            "departments": self.departments,
        }
        self.plan_out = self.create(self.scoring, "/v1/year-plans", body, YEAR)

    # 2. The 2020 12345 import
    def hotline(self, progress: Progress) -> None:
        from bench.scoring_workorders import COLUMNS, work_orders

        # The generator's departments are the seed's; map them onto this year's candidates.
        rows, chunk = self.scale.work_orders, 50_000
        task = progress.add_task("  12345工单", total=rows)
        produced = 0
        orders = work_orders(rows, seed=2020, year=2020)
        shorts: dict[str, str] = {}
        while produced < rows:
            lines = [",".join(COLUMNS)]
            for order in orders:
                for column in ("final_department", "dispatched_to", "returned_by"):
                    order[column] = self._candidate_for(order[column], shorts)
                lines.append(",".join(order[c] for c in COLUMNS))
                if len(lines) > chunk:
                    break
            body = ("\n".join(lines) + "\n").encode()
            self.ok(self.scoring.post("/v1/hotline/work-order-imports", content=body,
                                      headers={"content-type": "text/csv"}, timeout=600))
            produced += len(lines) - 1
            progress.update(task, completed=produced)
        computation = self.ok(self.scoring.post(
            f"/v1/year-plans/{self.plan_out['id']}/batches/1/sources/net_complaints/from-hotline",
            params={"start": "2020-01-01T00:00:00", "end": "2021-01-01T00:00:00"}), 200, 201, 204)
        self.facts["net_complaints"] = computation

    def _candidate_for(self, written: str, shorts: dict[str, str]) -> str:
        if not written:
            return written
        return "|".join(shorts.setdefault(name, self.departments[hash_name(name) % len(self.departments)])
                        for name in written.split("|"))

    # 3. Nomination polls of the three constituencies
    def _meeting(self, number: str, held_on: str, place: str = "淄博市人大常委会机关会议厅") -> dict:
        found = [m for m in self.items(self.voting, "/v1/meetings") if m["number"] == number]
        if found:
            return self.ok(self.voting.get(f"/v1/meetings/{found[0]['id']}"))
        return self.create(self.voting, "/v1/meetings", {"number": number, "held_on": held_on, "place": place,
                                                         "members": self.members}, number)

    def nominations(self, progress: Progress) -> None:
        meeting = self._meeting("第四十四次会议", "2021-02-26")
        self.february = meeting
        s = self.scale
        polls = [("npc_deputies", "市人大代表", s.deputies, 6), ("working_committees", "常委会有关委室", s.committee_voters, 4),
                 ("districts_and_enterprises", "市直、各区县人大及驻淄企业", s.district_voters, 4)]
        task = progress.add_task("  推荐投票", total=sum(n for _, _, n, _ in polls))
        for constituency, label, count, choices in polls:
            voters = [{"voter_id": f"{constituency[:3]}{i:04d}", "name": self.faker.name()} for i in range(count)]
            body = {"meeting_id": meeting["id"], "constituency": constituency, "title": f"{YEAR}年度评议对象推荐（{label}）",
                    "evaluation_year": YEAR, "plan_id": self.plan_out["id"], "batch": 1, "departments": self.departments,
                    "max_choices": min(choices, len(self.departments) - 1), "voters": voters}
            poll = self.current(self.voting, "/v1/ballots", self.create(self.voting, "/v1/nomination-polls", body, YEAR, constituency))
            if poll["status"] in ("closed", "published"):
                progress.advance(task, count)
                continue
            if poll["status"] == "draft":
                self.ok(self.voting.post(f"/v1/ballots/{poll['id']}/open"))
            weights = [1 + (len(self.departments) - i) for i in range(len(self.departments))]
            for voter in voters:
                token = self._token(meeting["id"], voter["voter_id"])
                marks = sorted(set(self.rng.choices(self.departments, weights=weights, k=body["max_choices"])))
                self.ok(self.voting.post(f"/v1/ballots/{poll['id']}/votes", json={"member_id": voter["voter_id"], "marks": marks},
                                         headers={"Authorization": f"Bearer {token}"}), 201, 409)
                progress.advance(task)
            self.ok(self.voting.post(f"/v1/ballots/{poll['id']}/close"))

    def _token(self, meeting_id: str, member_id: str) -> str:
        return self.ok(self.voting.post(f"/v1/meetings/{meeting_id}/member-tokens", json={"member_id": member_id}))["token"]

    # 4. The online public vote
    def public_vote(self, progress: Progress) -> None:
        # Its opening time is now, so its body differs each run: the ranking's inputs say whether it was tallied.
        resp = self.scoring.get(f"/v1/year-plans/{self.plan_out['id']}/batches/1/ranking")
        if resp.status_code == 200 and "public" in str(resp.json().get("inputs", {})):
            return
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        body = {"meeting_id": self.february["id"], "title": f"{YEAR}年度评议对象网上社会投票", "evaluation_year": YEAR,
                "plan_id": self.plan_out["id"], "batch": 1, "options": self.departments, "max_choices": 3,
                "opens_at": (now + dt.timedelta(seconds=2)).isoformat(), "closes_at": (now + dt.timedelta(hours=1)).isoformat()}
        poll = self.current(self.voting, "/v1/public-polls", self.create(self.voting, "/v1/public-polls", body, YEAR, "public"))
        if poll.get("status") in ("tallied", "closed", "published") or poll.get("results"):
            return
        time.sleep(max(0.0, (dt.datetime.fromisoformat(poll["opens_at"].replace("Z", "+00:00")) - dt.datetime.now(dt.UTC)).total_seconds() + 0.2))
        task = progress.add_task("  网上投票", total=self.scale.public_voters)
        weights = [1 + (len(self.departments) - i) for i in range(len(self.departments))]
        for i in range(self.scale.public_voters):
            phone = f"+86139{i:08d}"
            choices = sorted(set(self.rng.choices(self.departments, weights=weights, k=3)))
            self.cast_public_vote(poll["id"], phone, choices)
            progress.advance(task)
        closes = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
        self.ok(self.voting.patch(f"/v1/public-polls/{poll['id']}/schedule", json={"closes_at": closes.isoformat()}))
        time.sleep(1.5)
        self.ok(self.voting.post(f"/v1/public-polls/{poll['id']}/tally"), 200, 201, 409)

    def cast_public_vote(self, poll_id: str, phone: str, choices: list[str]) -> None:
        """One citizen's vote, as a phone would cast it: SMS code → voting pass → vote."""
        codes = self.voting.post(f"/v1/public-polls/{poll_id}/verification-codes", json={"phone": phone})
        self.ok(codes, 202)
        code = self.wait("the SMS code", lambda: sms_code(self.sms_outbox, phone), timeout=30)
        verified = self.ok(self.voting.post(f"/v1/public-polls/{poll_id}/verifications", json={"phone": phone, "code": code}), 201)
        self.ok(self.voting.post(f"/v1/public-polls/{poll_id}/votes", json={"pass": verified["pass"], "choices": choices}), 201, 409)

    # 5. Composite ranking and slate
    def ranking(self, progress: Progress) -> None:
        plan_id = self.plan_out["id"]

        def complete():
            resp = self.scoring.get(f"/v1/year-plans/{plan_id}/batches/1/ranking")
            body = resp.json() if resp.status_code == 200 else None
            return body if body and body.get("slate") else None

        self.ranking_out = self.wait("the ranking with its slate", complete)
        self.wait("voting's copy of the slate", lambda: self.voting.get(f"/v1/slates/{plan_id}", params={"batch": 1}).status_code == 200)

    # 6. The February selection meeting: a tie at the cut-off and its runoff
    def selection(self, progress: Progress) -> None:
        meeting = self.february
        present = [m["member_id"] for m in self.members[: len(self.members) - self.scale.absent]]
        self.ok(self.voting.post(f"/v1/meetings/{meeting['id']}/check-ins", json={"member_ids": present}))
        self.ok(self.voting.post(f"/v1/meetings/{meeting['id']}/nonvoting-attendees", headers=self.key("attendees", meeting["id"]),
                                 json={"attendees": [{"name": "桑珠次仁", "affiliation": "淄博市人民政府副市长"}]}))
        body = {"slate": {"plan_id": self.plan_out["id"], "batch": 1}, "title": f"{YEAR}年第一批专项工作评议对象差额票决"}
        ballot = self.current(self.voting, "/v1/ballots", self.create(self.voting, f"/v1/meetings/{meeting['id']}/selection-ballots", body, "february"))
        tokens = {m: self._token(meeting["id"], m) for m in present}
        seats, slate = ballot["seats"], ballot["candidates"]
        if ballot["status"] == "draft":
            self.ok(self.voting.post(f"/v1/ballots/{ballot['id']}/open"))
            for member, marks in zip(present, tie_at_the_cut_off(slate, seats, len(present)), strict=True):
                self._mark(ballot["id"], member, marks, tokens)
            ballot = self.ok(self.voting.post(f"/v1/ballots/{ballot['id']}/close"))
        elif ballot["status"] == "open":
            ballot = self.ok(self.voting.post(f"/v1/ballots/{ballot['id']}/close"))
        else:
            ballot = self.ok(self.voting.get(f"/v1/ballots/{ballot['id']}"))
        rounds = [ballot]
        while rounds[-1].get("follow_up_ballot_id"):
            follow = self.ok(self.voting.get(f"/v1/ballots/{rounds[-1]['follow_up_ballot_id']}"))
            if follow["status"] == "draft":
                self.ok(self.voting.post(f"/v1/ballots/{follow['id']}/open"))
                favourite = follow["candidates"][0]
                for i, member in enumerate(present):
                    self._mark(follow["id"], member, [favourite if i < len(present) * 0.6 else follow["candidates"][1]], tokens)
                follow = self.ok(self.voting.post(f"/v1/ballots/{follow['id']}/close"))
            rounds.append(follow)
        self.chosen = [w for r in rounds for w in (r.get("winners") or [])]
        self.facts["selection_rounds"] = rounds

    def _mark(self, ballot_id: str, member: str, marks: list[str], tokens: dict[str, str]) -> None:
        self.ok(self.voting.post(f"/v1/ballots/{ballot_id}/votes", json={"member_id": member, "marks": marks},
                                 headers={"Authorization": f"Bearer {tokens[member]}"}), 201, 409)

    # 7. Commitments and progress
    def _cases(self) -> dict[str, dict]:
        def found():
            cases = {c["department"]: c for c in self.items(self.tracking, "/v1/cases") if c["evaluation_year"] == YEAR}
            return cases if all(d in cases for d in self.chosen) else None

        return self.wait("tracking's cases of the chosen departments", found)

    def commitments(self, progress: Progress) -> None:
        cases = self._cases()
        task = progress.add_task("  整改承诺", total=len(self.chosen) * 3)
        topics = [("群众反映办事流程繁琐、材料重复提交", "推行一窗受理、一次办好，精简申请材料", "2021-05-31"),
                  ("12345工单按期办结率偏低", "建立工单周调度和督办通报制度", "2021-06-30"),
                  ("基层服务网点覆盖不足", "新增便民服务点并公布服务清单", "2021-07-31")]
        for department in self.chosen:
            case = cases[department]
            for n, (problem, measure, deadline) in enumerate(topics):
                commitment = self.current(self.tracking, "/v1/commitments", self.create(self.tracking, f"/v1/cases/{case['id']}/commitments", {
                    "problem": problem, "measure": measure, "responsible_unit": f"{department}办公室",
                    "responsible_person": self.faker.name(), "deadline": deadline}, department, n))
                for month in (3, 5):
                    self.create(self.tracking, f"/v1/commitments/{commitment['id']}/progress", {
                        "reported_on": f"2021-{month:02d}-15", "text": f"{month}月：已制定方案并推进落实",
                        "percent_complete": 30 if month == 3 else 60}, commitment["id"], month)
                if n == 0 and commitment.get("status") not in ("completed", "closed"):
                    self.ok(self.tracking.post(f"/v1/commitments/{commitment['id']}/complete",
                                               json={"completed_on": "2021-05-28", "evidence": "已印发实施方案，办事材料精简40%"}), 200, 409)
                progress.advance(task)

    # 8. August review: reports, inquiry, satisfaction; one 不满意
    def _review(self, meeting: dict, departments: list[str], choices_for, vote_round: int = 1) -> None:
        present = [m["member_id"] for m in self.members[: len(self.members) - self.scale.absent]]
        self.ok(self.voting.post(f"/v1/meetings/{meeting['id']}/check-ins", json={"member_ids": present}))
        tokens = {m: self._token(meeting["id"], m) for m in present}
        cases = self._cases()
        for department in departments:
            case = cases[department]
            self.create(self.tracking, f"/v1/cases/{case['id']}/work-reports", {
                "title": f"{department}关于{YEAR}年度专项工作情况的报告", "submitted_on": meeting["held_on"],
                "meeting_date": meeting["held_on"], "document_url": f"https://rd.zibo.gov.cn/pingyi/{YEAR}/{uuid.uuid5(DEMO_NAMESPACE, department).hex[:8]}.pdf"},
                meeting["number"], department)
            for n, asker_type in enumerate(("committee_member", "npc_deputy", "citizen_representative")):
                self.create(self.tracking, f"/v1/cases/{case['id']}/inquiry-questions", {
                    "meeting_date": meeting["held_on"], "asker": self.faker.name(), "asker_type": asker_type,
                    "question": "群众反映的问题为何反复出现？下一步如何整改？", "answering_official": f"{department}局长",
                    "answer": "我们将建立长效机制，限期整改到位。"}, meeting["number"], department, n)
            agenda = [i for i in self.ok(self.voting.get(f"/v1/meetings/{meeting['id']}/agenda"))["items"]
                      if i["department"] == department and i["kind"] == "rereport_revote"]
            body = {"agenda_item_id": agenda[0]["id"]} if agenda else {"department": department, "evaluation_year": YEAR}
            ballot = self.current(self.voting, "/v1/ballots", self.create(self.voting, f"/v1/meetings/{meeting['id']}/ballots", body, meeting["number"], department))
            if ballot["status"] == "draft":
                self.ok(self.voting.post(f"/v1/ballots/{ballot['id']}/open"))
                for member, choice in zip(present, choices_for(department, len(present)), strict=False):
                    self.ok(self.voting.post(f"/v1/ballots/{ballot['id']}/votes", json={"member_id": member, "choice": choice},
                                             headers={"Authorization": f"Bearer {tokens[member]}"}), 201, 409)
                self.ok(self.voting.post(f"/v1/ballots/{ballot['id']}/close"))

    def august(self, progress: Progress) -> None:
        meeting = self._meeting("第五十次会议", "2021-08-26")
        self.unsatisfied = self.chosen[-1]

        def choices(department: str, present: int) -> list[str]:
            if department == self.unsatisfied:  # 满意+基本满意 not more than half of all members
                return ["satisfied"] * 3 + ["basically_satisfied"] * 3 + ["unsatisfied"] * (present - 6)
            return ["satisfied"] * (present - 2) + ["basically_satisfied"] * 2

        self._review(meeting, self.chosen, choices)
        case = self.wait("the investigation of the 不满意 department",
                         lambda: (c := self.ok(self.tracking.get(f"/v1/cases/{self._cases()[self.unsatisfied]['id']}")))["investigations"] and c)
        investigation = case["investigations"][0]
        if investigation["status"] == "open":
            self.ok(self.tracking.post(f"/v1/investigations/{investigation['id']}/findings",
                                       json={"findings": "专项调研组实地走访，发现整改措施落实不到位、群众获得感不强。"}), 200, 201, 409)

    # 9. October: the re-report and re-vote, 不满意 again → escalation under the plan's policy
    def october(self, progress: Progress) -> None:
        meeting = self._meeting("第五十二次会议", "2021-10-28")
        self.wait("the re-report on the October agenda", lambda: [
            i for i in self.ok(self.voting.get(f"/v1/meetings/{meeting['id']}/agenda"))["items"] if i["kind"] == "rereport_revote"])
        self._review(meeting, [self.unsatisfied],
                     lambda d, present: ["satisfied"] * 2 + ["basically_satisfied"] * 3 + ["unsatisfied"] * (present - 5))
        case_id = self._cases()[self.unsatisfied]["id"]
        self.wait("the escalation step", lambda: self.ok(self.tracking.get(f"/v1/cases/{case_id}/escalation-steps"))["items"])

    # 10. Deputies' motions and audit findings
    def motions_and_audits(self, progress: Progress) -> None:
        for n, (title, unit) in enumerate([("关于进一步完善政府与法院在涉破产事项领域府院联动机制的议案", "淄博市中级人民法院"),
                                            ("关于以人工智能赋能“四强”产业推动新经济发展的议案", "淄博市工业和信息化局"),
                                            ("关于深化“全员环保”体制机制改革的议案", "淄博市生态环境局")], start=1):
            motion = self.create(self.tracking, "/v1/motions", {
                "number": f"议案第{n}号", "title": title, "sponsors": [self.faker.name() for _ in range(10)],
                "assigned_unit": unit, "assigned_on": "2021-02-26"}, n)
            motion = self.current(self.tracking, "/v1/motions", motion)
            if n == 1 and motion.get("status") == "assigned":
                self.ok(self.tracking.post(f"/v1/motions/{motion['id']}/reply", json={
                    "replied_on": "2021-05-20", "result_code": "A", "reply": "已建立府院联动联席会议制度"}), 200, 201, 409, 422)
        audit = self.create(self.tracking, "/v1/audit-cases", {
            "audit_year": 2019, "audited_unit": "淄博市财政局", "report_title": "关于2019年度市级预算执行和其他财政收支审计查出问题整改情况的报告",
            "received_on": "2021-02-26"}, 2019)
        for n, (finding, measure) in enumerate([("部分专项资金拨付不及时", "建立专项资金拨付台账，按月通报"),
                                                 ("个别项目绩效目标设定不够细化", "修订绩效目标编制指引")]):
            self.create(self.tracking, f"/v1/audit-cases/{audit['id']}/findings", {"finding": finding, "measure": measure}, audit["id"], n)

    # --- what a person can check against the pages ---------------------------------

    def summary(self) -> Table:
        plan = self.ok(self.scoring.get(f"/v1/year-plans/{self.plan_out['id']}"))
        rounds = [self.ok(self.voting.get(f"/v1/ballots/{r['id']}")) for r in self.facts["selection_rounds"]]
        cases = [c for c in self.items(self.tracking, "/v1/cases") if c["evaluation_year"] == YEAR]
        commitments = self.items(self.tracking, "/v1/commitments")
        results = [r for r in self.items(self.scoring, "/v1/satisfaction-results") if r["evaluation_year"] == YEAR]
        escalations = sum(len(self.ok(self.tracking.get(f"/v1/cases/{c['id']}/escalation-steps"))["items"]) for c in cases)
        table = Table(title=f"{YEAR}年度专项工作评议 · 演示数据汇总")
        table.add_column("项目")
        table.add_column("数值", justify="right")
        rows = [
            ("评议对象（计划）", sum(b["seats"] for b in plan["batches"])),
            ("候选部门", len(plan["departments"])),
            ("第一批候选名单", len(self.ok(self.voting.get(f"/v1/slates/{plan['id']}", params={"batch": 1}))["candidates"])),
            ("差额票决轮次", len(rounds)),
            ("第一批当选部门", "、".join(w for r in rounds for w in (r["winners"] or []))),
            ("评议案件", len(cases)),
            ("整改承诺", len(commitments)),
            ("逾期承诺", sum(1 for c in commitments if c.get("overdue"))),
            ("满意度测评", len(results)),
            ("不满意", sum(1 for r in results if r["grade"] == "unsatisfied")),
            ("问责升级措施", escalations),
            ("代表议案", len(self.items(self.tracking, "/v1/motions"))),
            ("审计整改事项", len(self.items(self.tracking, "/v1/audit-cases"))),
        ]
        for label, value in rows:
            table.add_row(label, str(value))
        self.facts["summary"] = dict(rows)
        return table


def tie_at_the_cut_off(slate: list[str], seats: int, present: int) -> list[list[str]]:
    """Marks that fill all seats but the last, which two candidates tie for above
    the floor (more than half of all members): x ballots mark the seats-th candidate
    with the (seats+1)-th... so the last seat needs a runoff among the tied."""
    sure = slate[: seats - 2] if seats >= 2 else []
    lead, left, right = slate[seats - 2], slate[seats - 1], slate[seats]
    tied = present // 3
    if (present - tied) % 2:
        tied -= 1
    each = (present - tied) // 2
    return ([sure + [lead, left]] * each + [sure + [lead, right]] * each + [sure + [left, right]] * tied)


def sms_code(outbox: Path, phone: str) -> str | None:
    """The latest code the file SMS gateway wrote to this phone."""
    if not outbox.exists():
        return None
    code = None
    for line in outbox.read_text(encoding="utf-8").splitlines():
        message = json.loads(line)
        if message.get("to") == phone and (found := re.search(r"\d{6}", message.get("text", ""))):
            code = found.group(0)
    return code


def hash_name(name: str) -> int:
    return int(uuid.uuid5(DEMO_NAMESPACE, name).hex[:8], 16)


def run_demo(urls: dict[str, str], key: str, scale: str, console: Console | None = None,
             sms_outbox: Path = Path("var/sms-outbox.jsonl")) -> dict[str, Any]:
    console = console or Console()
    headers = {"Authorization": f"Bearer {key}"}
    clients = {s: httpx.Client(base_url=u, headers=headers, timeout=120) for s, u in urls.items()}
    try:
        year = Year(clients["voting"], clients["scoring"], clients["tracking"], SCALES[scale], console, sms_outbox=sms_outbox)
        year.play()
        console.print(year.summary())
        return year.facts
    finally:
        for client in clients.values():
            client.close()


def register(app) -> None:
    """`pingyi demo`: registered on the CLI by shared.cli."""
    import typer

    @app.command()
    def demo(
        scale: str = typer.Option("small", help="small (a few departments, dozens of voters) or city (60 departments, 1,000,000 orders)"),
        voting: str = typer.Option(None, help="voting's URL (default: the embedded stack's)"),
        scoring: str = typer.Option(None, help="scoring's URL"),
        tracking: str = typer.Option(None, help="tracking's URL"),
        key: str = typer.Option(None, envvar="PINGYI_OPERATOR_KEY", help="operator API key (default: var/operator.key)"),
    ) -> None:
        """Play the 2021 evaluation year through the public APIs (idempotent)."""
        if scale not in SCALES:
            typer.echo(f"unknown scale {scale!r}: small or city", err=True)
            raise typer.Exit(2)
        urls = {"voting": voting or "http://127.0.0.1:8001", "scoring": scoring or "http://127.0.0.1:8002",
                "tracking": tracking or "http://127.0.0.1:8003"}
        key = key or Path("var/operator.key").read_text().strip()
        try:
            run_demo(urls, key, scale)
        except Step as exc:
            typer.echo(f"demo stopped: {exc}", err=True)
            raise typer.Exit(1) from None
