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
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from shared.ops.embedded import write_private

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
# The plan's two selection meetings: February for batch 1 (the seed's), April for batch 2.
SELECTION_MEETINGS = {1: ("第四十四次会议", "2021-02-26"), 2: ("第四十六次会议", "2021-04-28")}
# Each batch's public vote is cast from its own phones (a number's latest SMS code is its own poll's).
PHONE_RANGES = {1: "139", 2: "138"}
# (problem, measure, deadline, [(month of progress report, percent complete)]) per batch.
COMMITMENTS = {
    1: [("群众反映办事流程繁琐、材料重复提交", "推行一窗受理、一次办好，精简申请材料", "2021-05-31", [(3, 30), (5, 60)]),
        ("12345工单按期办结率偏低", "建立工单周调度和督办通报制度", "2021-06-30", [(3, 30), (5, 60)]),
        ("基层服务网点覆盖不足", "新增便民服务点并公布服务清单", "2021-07-31", [(3, 30), (5, 60)])],
    2: [("群众反映窗口服务态度生硬、一次性告知不到位", "开展窗口作风专项整治，实行首问负责和限时办结", "2021-07-31", [(6, 30), (8, 60)]),
        ("涉企检查多头重复、企业负担重", "推行“综合查一次”，公布年度检查计划", "2021-08-31", [(6, 30), (8, 60)]),
        ("信息公开不及时、政策解读不到位", "建立政策发布解读同步机制，每月更新办事指南", "2021-09-30", [(6, 30), (8, 60)])],
}
PROGRESS_TEXT = {30: "已制定方案并推进落实", 60: "主要措施已落实，正在巩固提升"}
MOTIONS = [("关于进一步完善政府与法院在涉破产事项领域府院联动机制的议案", "淄博市中级人民法院"),
           ("关于以人工智能赋能“四强”产业推动新经济发展的议案", "淄博市工业和信息化局"),
           ("关于深化“全员环保”体制机制改革的议案", "淄博市生态环境局")]
MOTION_REPLIES = ["已建立联席会议制度，明确牵头单位和办理时限", "已重新研究办理，出台专项实施方案并落实资金保障"]
AUDITED_UNIT = "淄博市财政局"
AUDIT_FINDINGS = [("部分专项资金拨付不及时", "建立专项资金拨付台账，按月通报"),
                  ("个别项目绩效目标设定不够细化", "修订绩效目标编制指引")]


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
    extra = [f"淄博市{w}局" for w in ("档案", "人民防空", "机关事务管理", "供销", "住房公积金管理", "园林", "海洋渔业", "气象",
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
    # The public vote's client sends no credential: a phone casting a vote holds none.
    public: httpx.Client | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    # Where the file SMS gateway writes (VOTING_SMS_GATEWAY=file:PATH), for the public vote's codes.
    sms_outbox: Path = Path("var/sms-outbox.jsonl")
    # Where the liaisons' keys are kept between runs (the secret is shown once: a clerk would file it).
    keys_file: Path = Path("var/demo-liaison-keys.json")
    # Requests in flight at once for the public and nomination votes (each voter is one phone or one device).
    concurrency: int = 8

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

    def wait(self, what: str, fetch, timeout: float = 120.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = fetch()
            if value:
                return value
            time.sleep(0.25)
        raise Step(f"waited {timeout:.0f}s for {what}")

    def in_parallel(self, work: list, act, progress: Progress, task) -> None:
        """`act(item)` for each item, `concurrency` at a time; the first failure stops the step."""
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            for _ in pool.map(act, work):
                progress.advance(task)

    def names(self, count: int, *purpose: object) -> list[str]:
        """Generated names, the same for the same purpose on every run (request bodies must not change)."""
        self.faker.seed_instance(hash_name("/".join(map(str, (YEAR, *purpose)))))
        return [self.faker.name() for _ in range(count)]

    # --- credentials ------------------------------------------------------------

    def liaison(self, department: str) -> httpx.Client:
        """A client holding the department liaison's key: tracking:write bound to the
        department, issued through tracking's admin API and kept in `keys_file`."""
        if department in self._liaisons:
            return self._liaisons[department]
        kept = json.loads(self.keys_file.read_text()) if self.keys_file.exists() else {}
        listed = {k["name"]: k for k in self.items(self.tracking, "/v1/admin/api-keys")}
        base = f"{department}评议联络员"
        secret = None
        for n in range(1, 100):
            name = base if n == 1 else f"{base}（第{n}把）"
            row = listed.get(name)
            if row is None:
                issued = self.ok(self.tracking.post("/v1/admin/api-keys", headers=self.key("api-key", name), json={
                    "name": name, "scopes": ["tracking:write"], "department": department}), 201)
                if issued["key"] is not None:
                    secret = issued["key"]
                    kept[name] = secret
                    write_private(self.keys_file, json.dumps(kept, ensure_ascii=False, indent=1))
                    break
                row = issued  # a replay: the secret was shown once, to a run that lost it
            if row["revoked_at"] is None:
                if kept.get(name, "").startswith(f"pyk_{row['id']}_"):
                    secret = kept[name]
                    break
                # Issued, but its secret is lost: revoke it and issue the next one.
                self.ok(self.tracking.delete(f"/v1/admin/api-keys/{row['id']}"))
        if secret is None:
            raise Step(f"no liaison key for {department}")
        client = httpx.Client(base_url=self.tracking.base_url, headers={"Authorization": f"Bearer {secret}"}, timeout=120)
        self._liaisons[department] = client
        return client

    def close(self) -> None:
        for client in self._liaisons.values():
            client.close()

    # --- the year ---------------------------------------------------------------

    def play(self) -> None:
        from faker import Faker

        self.faker = Faker("zh_CN")
        self._liaisons: dict[str, httpx.Client] = {}
        self.sms = SmsInbox(self.sms_outbox)
        self.public = self.public or httpx.Client(base_url=self.voting.base_url, timeout=120)
        s = self.scale
        self.departments = department_names(s.departments)
        self.members = [{"member_id": f"cw{i:02d}", "name": name} for i, name in enumerate(self.names(s.members, "members"), start=1)]
        self.chosen: dict[int, list[str]] = {}
        steps = [
            ("年度评议工作方案", self.plan),
            ("导入2020年12345工单", self.hotline),
            ("第一批：人大代表、委室、区县和企业推荐投票", lambda p: self.nominations(p, 1)),
            ("第一批：网上社会投票", lambda p: self.public_vote(p, 1)),
            ("第一批：综合排名与候选名单", lambda p: self.ranking(p, 1)),
            ("第四十四次会议差额票决", lambda p: self.selection(p, 1)),
            ("第一批：整改承诺与进展", lambda p: self.commitments(p, 1)),
            ("第二批：群众净投诉量", self.net_complaints_second_batch),
            ("第二批：推荐投票", lambda p: self.nominations(p, 2)),
            ("第二批：网上社会投票", lambda p: self.public_vote(p, 2)),
            ("第二批：综合排名与候选名单", lambda p: self.ranking(p, 2)),
            ("第四十六次会议差额票决", lambda p: self.selection(p, 2)),
            ("第二批：整改承诺与进展", lambda p: self.commitments(p, 2)),
            ("八月评议会议", self.august),
            ("十月评议会议（第二批、再次表决、质询）", self.october),
            ("代表议案与审计查出问题", self.motions_and_audits),
        ]
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=self.console, transient=False) as progress:
            year = progress.add_task("2021年度专项工作评议", total=len(steps))
            for label, step in steps:
                progress.update(year, description=f"2021年度专项工作评议 · {label}")
                started = time.monotonic()
                step(progress)
                self.facts.setdefault("step_seconds", {})[label] = round(time.monotonic() - started, 1)
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

        plan_id = self.plan_out["id"]
        ranked = self.scoring.get(f"/v1/year-plans/{plan_id}/batches/1/ranking")
        if ranked.status_code == 200 and "net_complaints" in ranked.json()["inputs"]["figures"]:
            return  # imported and counted by an earlier run
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
            f"/v1/year-plans/{plan_id}/batches/1/sources/net_complaints/from-hotline",
            params={"start": "2020-01-01T00:00:00", "end": "2021-01-01T00:00:00"}, timeout=600), 200, 201, 204)
        self.facts["net_complaints"] = computation

    def _candidate_for(self, written: str, shorts: dict[str, str]) -> str:
        if not written:
            return written
        return "|".join(shorts.setdefault(name, self.departments[hash_name(name) % len(self.departments)])
                        for name in written.split("|"))

    def candidates(self, batch: int) -> list[str]:
        """Batch 1 chooses among all; batch 2 among those not chosen in February."""
        return [d for d in self.departments if batch == 1 or d not in self.chosen[1]]

    def net_complaints_second_batch(self, progress: Progress) -> None:
        # The same 2020 figures, for the departments still to choose from: the office submits them for batch 2.
        plan_id = self.plan_out["id"]
        first = self.ok(self.scoring.get(f"/v1/year-plans/{plan_id}/batches/1/ranking"))["inputs"]["figures"]["net_complaints"]
        figures = {d: first.get(d, 0) for d in self.candidates(2)}
        self.ok(self.scoring.put(f"/v1/year-plans/{plan_id}/batches/2/sources/net_complaints",
                                 json={"figures": figures, "submitted_by": "市人大常委会评议办公室"}), 200, 204)

    # 3. Nomination polls of the three constituencies
    def _meeting(self, number: str, held_on: str, place: str = "淄博市人大常委会机关会议厅") -> dict:
        found = [m for m in self.items(self.voting, "/v1/meetings") if m["number"] == number]
        if found:
            return self.ok(self.voting.get(f"/v1/meetings/{found[0]['id']}"))
        return self.create(self.voting, "/v1/meetings", {"number": number, "held_on": held_on, "place": place,
                                                         "members": self.members}, number)

    def selection_meeting(self, batch: int) -> dict:
        return self._meeting(*SELECTION_MEETINGS[batch])

    def nominations(self, progress: Progress, batch: int) -> None:
        meeting = self.selection_meeting(batch)
        departments = self.candidates(batch)
        s = self.scale
        polls = [("npc_deputies", "市人大代表", s.deputies, 6), ("working_committees", "常委会有关委室", s.committee_voters, 4),
                 ("districts_and_enterprises", "市直、各区县人大及驻淄企业", s.district_voters, 4)]
        task = progress.add_task(f"  第{SEAT_WORDS[batch - 1]}批推荐投票", total=sum(n for _, _, n, _ in polls))
        for constituency, label, count, choices in polls:
            voters = [{"voter_id": f"{constituency[:3]}{i:04d}", "name": name}
                      for i, name in enumerate(self.names(count, batch, constituency))]
            body = {"meeting_id": meeting["id"], "constituency": constituency,
                    "title": f"{YEAR}年度第{SEAT_WORDS[batch - 1]}批评议对象推荐（{label}）",
                    "evaluation_year": YEAR, "plan_id": self.plan_out["id"], "batch": batch, "departments": departments,
                    "max_choices": min(choices, len(departments) - 1), "voters": voters}
            poll = self.current(self.voting, "/v1/ballots",
                                self.create(self.voting, "/v1/nomination-polls", body, YEAR, batch, constituency))
            if poll["status"] in ("closed", "published"):
                progress.advance(task, count)
                continue
            if poll["status"] == "draft":
                self.ok(self.voting.post(f"/v1/ballots/{poll['id']}/open"))
            weights = [1 + (len(departments) - i) for i in range(len(departments))]
            rng = random.Random(f"{batch}/{constituency}")
            marked = [(voter["voter_id"], sorted(set(rng.choices(departments, weights=weights, k=body["max_choices"]))))
                      for voter in voters]

            def cast(vote, poll_id=poll["id"]):
                voter_id, marks = vote
                token = self._token(meeting["id"], voter_id)
                self.ok(self.voting.post(f"/v1/ballots/{poll_id}/votes", json={"member_id": voter_id, "marks": marks},
                                         headers={"Authorization": f"Bearer {token}"}), 201, 409)

            self.in_parallel(marked, cast, progress, task)
            self.ok(self.voting.post(f"/v1/ballots/{poll['id']}/close"))

    def _token(self, meeting_id: str, member_id: str) -> str:
        return self.ok(self.voting.post(f"/v1/meetings/{meeting_id}/member-tokens", json={"member_id": member_id}))["token"]

    # 4. The online public vote
    def _ranking(self, batch: int) -> dict | None:
        resp = self.scoring.get(f"/v1/year-plans/{self.plan_out['id']}/batches/{batch}/ranking")
        return resp.json() if resp.status_code == 200 else None

    def public_vote(self, progress: Progress, batch: int) -> None:
        # Its opening time is now, so its body differs each run: the ranking's figures say whether it was tallied.
        ranked = self._ranking(batch)
        if ranked and "public" in ranked["inputs"]["figures"]:
            return
        departments = self.candidates(batch)
        meeting = self.selection_meeting(batch)
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        body = {"meeting_id": meeting["id"], "title": f"{YEAR}年度第{SEAT_WORDS[batch - 1]}批评议对象网上社会投票",
                "evaluation_year": YEAR, "plan_id": self.plan_out["id"], "batch": batch, "options": departments,
                "max_choices": 3, "opens_at": (now + dt.timedelta(seconds=2)).isoformat(),
                "closes_at": (now + dt.timedelta(hours=3)).isoformat()}
        created = self.create(self.voting, "/v1/public-polls", body, YEAR, batch, "public")
        poll = self.current(self.voting, "/v1/public-polls", created)
        if poll.get("status") in ("tallied", "closed", "published") or poll.get("results"):
            return
        time.sleep(max(0.0, (dt.datetime.fromisoformat(poll["opens_at"]) - dt.datetime.now(dt.UTC)).total_seconds() + 0.2))
        voters = self.scale.public_voters if batch == 1 else self.scale.public_voters * 3 // 4
        task = progress.add_task(f"  第{SEAT_WORDS[batch - 1]}批网上投票", total=voters)
        weights = [1 + (len(departments) - i) for i in range(len(departments))]
        rng = random.Random(f"public/{batch}")
        ballots = [(f"+86{PHONE_RANGES[batch]}{i:08d}", sorted(set(rng.choices(departments, weights=weights, k=3))))
                   for i in range(voters)]
        self.in_parallel(ballots, lambda b: self.cast_public_vote(poll["id"], *b), progress, task)
        closes = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
        self.ok(self.voting.patch(f"/v1/public-polls/{poll['id']}/schedule", json={"closes_at": closes.isoformat()}))
        time.sleep(1.5)
        self.ok(self.voting.post(f"/v1/public-polls/{poll['id']}/tally"), 200, 201, 409)

    def cast_public_vote(self, poll_id: str, phone: str, choices: list[str]) -> None:
        """One citizen's vote, as a phone would cast it: SMS code → voting pass → vote."""
        self.ok(self.public.post(f"/v1/public-polls/{poll_id}/verification-codes", json={"phone": phone}), 202)
        code = self.wait("the SMS code", lambda: self.sms.take(phone), timeout=60)
        verified = self.ok(self.public.post(f"/v1/public-polls/{poll_id}/verifications", json={"phone": phone, "code": code}), 201)
        self.ok(self.public.post(f"/v1/public-polls/{poll_id}/votes", json={"pass": verified["pass"], "choices": choices}), 201, 409)

    # 5. Composite ranking and slate
    def ranking(self, progress: Progress, batch: int) -> None:
        plan_id = self.plan_out["id"]

        def complete():
            body = self._ranking(batch)
            return body if body and body.get("slate") and not body["inputs"]["missing_sources"] else None

        ranked = self.wait(f"batch {batch}'s ranking with every source", complete)

        def copied():
            resp = self.voting.get(f"/v1/slates/{plan_id}", params={"batch": batch})
            return resp.status_code == 200 and resp.json()["computation_id"] == ranked["id"]

        self.wait(f"voting's copy of batch {batch}'s slate", copied)

    # 6. The selection meetings: February's has a tie at the cut-off and its runoff
    def selection(self, progress: Progress, batch: int) -> None:
        meeting = self.selection_meeting(batch)
        present = [m["member_id"] for m in self.members[: len(self.members) - self.scale.absent]]
        self.ok(self.voting.post(f"/v1/meetings/{meeting['id']}/check-ins", json={"member_ids": present}))
        self.ok(self.voting.post(f"/v1/meetings/{meeting['id']}/nonvoting-attendees", headers=self.key("attendees", meeting["id"]),
                                 json={"attendees": [{"name": "桑珠次仁", "affiliation": "淄博市人民政府副市长"}]}))
        body = {"slate": {"plan_id": self.plan_out["id"], "batch": batch},
                "title": f"{YEAR}年第{SEAT_WORDS[batch - 1]}批专项工作评议对象差额票决"}
        ballot = self.current(self.voting, "/v1/ballots", self.create(
            self.voting, f"/v1/meetings/{meeting['id']}/selection-ballots", body, *(("february",) if batch == 1 else ("selection", batch))))
        tokens = {m: self._token(meeting["id"], m) for m in present}
        seats, slate = ballot["seats"], ballot["candidates"]
        if ballot["status"] == "draft":
            self.ok(self.voting.post(f"/v1/ballots/{ballot['id']}/open"))
            marks = tie_at_the_cut_off(slate, seats, len(present)) if batch == 1 else clear_winners(slate, seats, len(present))
            for member, marked in zip(present, marks, strict=True):
                self._mark(ballot["id"], member, marked, tokens)
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
        self.chosen[batch] = [w for r in rounds for w in (r.get("winners") or [])]
        self.facts.setdefault("selection_rounds", {})[batch] = rounds

    def _mark(self, ballot_id: str, member: str, marks: list[str], tokens: dict[str, str]) -> None:
        self.ok(self.voting.post(f"/v1/ballots/{ballot_id}/votes", json={"member_id": member, "marks": marks},
                                 headers={"Authorization": f"Bearer {tokens[member]}"}), 201, 409)

    # 7. Commitments and progress, each by its department's liaison
    def _cases(self) -> dict[str, dict]:
        chosen = [d for batch in self.chosen.values() for d in batch]

        def found():
            cases = {c["department"]: c for c in self.items(self.tracking, "/v1/cases") if c["evaluation_year"] == YEAR}
            return cases if all(d in cases for d in chosen) else None

        return self.wait("tracking's cases of the chosen departments", found)

    def commitments(self, progress: Progress, batch: int) -> None:
        cases = self._cases()
        task = progress.add_task(f"  第{SEAT_WORDS[batch - 1]}批整改承诺", total=len(self.chosen[batch]) * len(COMMITMENTS[batch]))
        for department in self.chosen[batch]:
            liaison = self.liaison(department)
            case = cases[department]
            # Looked up by what they say, not only by Idempotency-Key: a liaison's new key is a new caller.
            made = {c["problem"]: c for c in self.items(liaison, "/v1/commitments", case_id=case["id"])}
            for n, (problem, measure, deadline, months) in enumerate(COMMITMENTS[batch]):
                commitment = made.get(problem) or self.create(liaison, f"/v1/cases/{case['id']}/commitments", {
                    "problem": problem, "measure": measure, "responsible_unit": f"{department}办公室",
                    "responsible_person": self.names(1, department, n)[0], "deadline": deadline}, department, n)
                commitment = self.ok(liaison.get(f"/v1/commitments/{commitment['id']}"))
                reported = {p["reported_on"] for p in commitment["progress"]}
                for month, percent in months:
                    if f"{YEAR}-{month:02d}-15" not in reported:
                        self.create(liaison, f"/v1/commitments/{commitment['id']}/progress", {
                            "reported_on": f"{YEAR}-{month:02d}-15", "text": f"{month}月：{PROGRESS_TEXT[percent]}",
                            "percent_complete": percent}, commitment["id"], month)
                if n == 0 and commitment["status"] not in ("done", "closed"):
                    done_on = f"{YEAR}-{months[-1][0]:02d}-28"
                    self.ok(liaison.post(f"/v1/commitments/{commitment['id']}/complete",
                                         json={"completed_on": done_on, "evidence": "已印发实施方案，办事材料精简40%"}), 200, 409)
                progress.advance(task)

    # 8. The review meetings: reports, inquiry, satisfaction
    def _review(self, meeting: dict, departments: list[str], choices_for) -> None:
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
                    "meeting_date": meeting["held_on"], "asker": self.names(1, meeting["number"], department, n)[0], "asker_type": asker_type,
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
        self.unsatisfied = self.chosen[1][-1]

        def choices(department: str, present: int) -> list[str]:
            if department == self.unsatisfied:  # 满意+基本满意 not more than half of all members
                return ["satisfied"] * 3 + ["basically_satisfied"] * 3 + ["unsatisfied"] * (present - 6)
            return ["satisfied"] * (present - 2) + ["basically_satisfied"] * 2

        self._review(meeting, self.chosen[1], choices)
        case = self.wait("the investigation of the 不满意 department",
                         lambda: (c := self.ok(self.tracking.get(f"/v1/cases/{self._cases()[self.unsatisfied]['id']}")))["investigations"] and c)
        investigation = case["investigations"][0]
        if investigation["status"] == "open":
            self.ok(self.tracking.post(f"/v1/investigations/{investigation['id']}/findings",
                                       json={"findings": "专项调研组实地走访，发现整改措施落实不到位、群众获得感不强。"}), 200, 201, 409)

    # 9. October: batch 2's review; the re-report with an interpellation, 不满意 again → escalation under the plan's policy
    def october(self, progress: Progress) -> None:
        meeting = self._meeting("第五十二次会议", "2021-10-28")
        self.wait("the re-report on the October agenda", lambda: [
            i for i in self.ok(self.voting.get(f"/v1/meetings/{meeting['id']}/agenda"))["items"] if i["kind"] == "rereport_revote"])
        case_id = self._cases()[self.unsatisfied]["id"]
        # Members who found the August answers wanting file an interpellation; the department answers at the meeting.
        filed = self.items(self.tracking, f"/v1/cases/{case_id}/interpellation-motions")
        motion = filed[0] if filed else self.create(self.tracking, f"/v1/cases/{case_id}/interpellation-motions", {
            "subject": f"关于{self.unsatisfied}整改工作落实不力、群众反映问题久拖不决的质询案",
            "sponsors": [m["name"] for m in self.members[:6]], "filed_on": "2021-10-20"}, case_id)
        if motion.get("answer") is None:
            self.ok(self.liaison(self.unsatisfied).post(f"/v1/interpellation-motions/{motion['id']}/answer", json={
                "answered_by": f"{self.unsatisfied}主要负责人", "answered_on": "2021-10-28",
                "answer": "对质询提出的问题照单全收，已制定专项整改方案，明确责任人和完成时限，年底前逐项销号。"}), 200, 409)

        def choices(department: str, present: int) -> list[str]:
            if department == self.unsatisfied:
                return ["satisfied"] * 2 + ["basically_satisfied"] * 3 + ["unsatisfied"] * (present - 5)
            return ["satisfied"] * (present - 3) + ["basically_satisfied"] * 3

        self._review(meeting, [*self.chosen[2], self.unsatisfied], choices)
        self.wait("the escalation step", lambda: self.ok(self.tracking.get(f"/v1/cases/{case_id}/escalation-steps"))["items"])

    # 10. Deputies' motions and audit findings, answered by the units' liaisons
    def motions_and_audits(self, progress: Progress) -> None:
        feedback_by_round = {1: ["satisfied"], 2: ["unsatisfied", "basically_satisfied"], 3: []}
        for n, (title, unit) in enumerate(MOTIONS, start=1):
            motion = self.create(self.tracking, "/v1/motions", {
                "number": f"议案第{n}号", "title": title, "sponsors": self.names(10, "motion", n),
                "assigned_unit": unit, "assigned_on": "2021-02-26"}, n)
            # Reply, feedback; 不满意 sends it back for a second reply. The third stays with its unit, overdue.
            for _ in range(5):
                motion = self.current(self.tracking, "/v1/motions", motion)
                given = motion["redo_count"] + (motion["status"] == "closed")
                if motion["status"] in ("assigned", "redo") and given < len(feedback_by_round[n]):
                    self.ok(self.liaison(unit).post(f"/v1/motions/{motion['id']}/reply", json={
                        "replied_on": f"{YEAR}-{5 + 3 * motion['redo_count']:02d}-20", "result_code": "AB"[motion["redo_count"] % 2],
                        "reply": MOTION_REPLIES[motion["redo_count"] % 2]}), 200, 409)
                elif motion["status"] == "replied":
                    self.ok(self.tracking.post(f"/v1/motions/{motion['id']}/feedback", json={
                        "feedback": feedback_by_round[n][motion["redo_count"]],
                        "feedback_on": f"{YEAR}-{6 + 3 * motion['redo_count']:02d}-10"}), 200, 409)
                else:
                    break
        audit = self.create(self.tracking, "/v1/audit-cases", {
            "audit_year": 2020, "audited_unit": AUDITED_UNIT,
            "report_title": "关于2020年度市级预算执行和其他财政收支审计查出问题整改情况的报告", "received_on": "2021-02-26"}, 2020)
        for n, (finding, measure) in enumerate(AUDIT_FINDINGS):
            self.create(self.tracking, f"/v1/audit-cases/{audit['id']}/findings", {"finding": finding, "measure": measure}, audit["id"], n)
        audit = self.current(self.tracking, "/v1/audit-cases", audit)
        finance = self.liaison(AUDITED_UNIT)
        for finding in audit["findings"]:
            if finding["status"] != "rectified" and finding["rectified_on"] is None:
                self.ok(finance.post(f"/v1/audit-findings/{finding['id']}/rectify", json={
                    "rectified_on": "2021-06-30", "evidence": f"已完成整改：{finding['measure']}"}), 200, 409)
        if audit["report_submitted_on"] is None:
            self.ok(self.tracking.post(f"/v1/audit-cases/{audit['id']}/report", json={
                "submitted_on": "2021-08-20", "summary": "审计查出的问题已全部整改到位，建立长效机制2项。"}), 200, 409)
        if audit["status"] != "closed":
            self.ok(self.tracking.post(f"/v1/audit-cases/{audit['id']}/close", json={"closed_by": "市人大常委会预算工作委员会"}), 200, 409)

    # --- what a person can check against the pages ---------------------------------

    def summary(self) -> Table:
        plan = self.ok(self.scoring.get(f"/v1/year-plans/{self.plan_out['id']}"))
        rounds = {b: [self.ok(self.voting.get(f"/v1/ballots/{r['id']}")) for r in rs] for b, rs in self.facts["selection_rounds"].items()}
        cases = [c for c in self.items(self.tracking, "/v1/cases") if c["evaluation_year"] == YEAR]
        case_details = [self.ok(self.tracking.get(f"/v1/cases/{c['id']}")) for c in cases]
        commitments = self.items(self.tracking, "/v1/commitments")
        progress = sum(len(self.ok(self.tracking.get(f"/v1/commitments/{c['id']}"))["progress"]) for c in commitments)
        results = [r for r in self.items(self.scoring, "/v1/satisfaction-results") if r["evaluation_year"] == YEAR]
        escalations = sum(len(self.items(self.tracking, f"/v1/cases/{c['id']}/escalation-steps")) for c in cases)
        interpellations = sum(len(self.items(self.tracking, f"/v1/cases/{c['id']}/interpellation-motions")) for c in cases)
        motions = self.items(self.tracking, "/v1/motions")
        audits = self.items(self.tracking, "/v1/audit-cases")
        findings = [f for a in audits for f in a["findings"]]
        keys = [k for k in self.items(self.tracking, "/v1/admin/api-keys", revoked="false") if k["department"]]
        slates = {b: self.ok(self.voting.get(f"/v1/slates/{plan['id']}", params={"batch": b}))["candidates"] for b in (1, 2)}
        table = Table(title=f"{YEAR}年度专项工作评议 · 演示数据汇总")
        table.add_column("项目")
        table.add_column("数值", justify="right")
        rows = [
            ("评议对象（计划）", sum(b["seats"] for b in plan["batches"])),
            ("候选部门", len(plan["departments"])),
            ("第一批候选名单", len(slates[1])),
            ("第一批差额票决轮次", len(rounds[1])),
            ("第一批当选部门", "、".join(w for r in rounds[1] for w in (r["winners"] or []))),
            ("第二批候选名单", len(slates[2])),
            ("第二批差额票决轮次", len(rounds[2])),
            ("第二批当选部门", "、".join(w for r in rounds[2] for w in (r["winners"] or []))),
            ("评议案件", len(cases)),
            ("部门联络员密钥", len(keys)),
            ("整改承诺", len(commitments)),
            ("已完成承诺", sum(1 for c in commitments if c["status"] in ("done", "closed"))),
            ("逾期承诺", sum(1 for c in commitments if c.get("overdue"))),
            ("整改进展报告", progress),
            ("满意度测评", len(results)),
            ("不满意", sum(1 for r in results if r["grade"] == "unsatisfied")),
            ("专题调研", sum(len(c["investigations"]) for c in case_details)),
            ("质询案", interpellations),
            ("问责升级措施", escalations),
            ("代表议案", len(motions)),
            ("代表议案已办结", sum(1 for m in motions if m["status"] == "closed")),
            ("审计整改事项", len(audits)),
            ("审计查出问题已整改", f"{sum(1 for f in findings if f['rectified_on'])}/{len(findings)}"),
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


def clear_winners(slate: list[str], seats: int, present: int) -> list[list[str]]:
    """Marks that elect the slate's first `seats` in one round: two in three members
    mark them, the others swap the last seat for the first runner-up."""
    return [slate[:seats] if i % 3 else slate[: seats - 1] + [slate[seats]] for i in range(present)]


class SmsInbox:
    """The codes the file SMS gateway wrote, read on from where the last read stopped
    (re-reading the whole file per voter is quadratic: at city scale, hours)."""

    def __init__(self, outbox: Path) -> None:
        self.outbox, self.offset, self.codes, self.lock = outbox, 0, {}, threading.Lock()

    def take(self, phone: str) -> str | None:
        """The latest code sent to this phone, once."""
        with self.lock:
            if phone not in self.codes and self.outbox.exists():
                with self.outbox.open("rb") as handle:
                    handle.seek(self.offset)
                    data = handle.read()
                complete = data.rfind(b"\n") + 1  # a line still being written waits for the next read
                for line in data[:complete].decode("utf-8").splitlines():
                    message = json.loads(line)
                    if found := re.search(r"\d{6}", message.get("text", "")):
                        self.codes[message.get("to")] = found.group(0)
                self.offset += complete
            return self.codes.pop(phone, None)



def hash_name(name: str) -> int:
    return int(uuid.uuid5(DEMO_NAMESPACE, name).hex[:8], 16)


# What a stack playing the demo needs raised: the public vote comes from one address, and the
# clerk's and the office's credentials make thousands of requests a minute (`make demo`, the test).
DEMO_RATE_LIMITS = {
    "RATE_LIMIT_PUBLIC_VOTE_IP": "1000000/minute", "RATE_LIMIT_VERIFICATION_CODE_IP": "1000000/hour",
    "RATE_LIMIT_VERIFICATION_IP": "1000000/hour", "RATE_LIMIT_CREDENTIAL": "1000000/minute",
}


def run_demo(urls: dict[str, str], key: str, scale: str, console: Console | None = None,
             var_dir: Path = Path("var"), sms_outbox: Path | None = None) -> dict[str, Any]:
    """`var_dir` holds the liaisons' keys between runs; `sms_outbox` is the file SMS gateway's
    (default: var_dir/sms-outbox.jsonl, where the embedded stack writes)."""
    console = console or Console()
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    clients = {s: httpx.Client(base_url=u, headers=headers, timeout=120, limits=limits) for s, u in urls.items()}
    public = httpx.Client(base_url=urls["voting"], timeout=120, limits=limits)
    year = Year(clients["voting"], clients["scoring"], clients["tracking"], SCALES[scale], console, public=public,
                sms_outbox=sms_outbox or var_dir / "sms-outbox.jsonl", keys_file=var_dir / "demo-liaison-keys.json")
    try:
        started = time.monotonic()
        year.play()
        year.facts["seconds"] = round(time.monotonic() - started, 1)
        console.print(year.summary())
        return year.facts
    finally:
        year.close()
        for client in [*clients.values(), public]:
            client.close()


def register(app) -> None:
    """`pingyi demo`: registered on the CLI by shared.ops.cli."""
    import typer

    @app.command()
    def demo(
        scale: str = typer.Option("small", help="small (a few departments, dozens of voters) or city (60 departments, 1,000,000 orders)"),
        voting: str = typer.Option(None, help="voting's URL (default: the embedded stack's)"),
        scoring: str = typer.Option(None, help="scoring's URL"),
        tracking: str = typer.Option(None, help="tracking's URL"),
        key: str = typer.Option(None, envvar="PINGYI_OPERATOR_KEY", help="operator API key (default: VAR_DIR/operator.key)"),
        var_dir: str = typer.Option("var", help="the liaisons' keys are kept here between runs; the file SMS gateway's outbox is read here"),
    ) -> None:
        """Play the 2021 evaluation year through the public APIs (idempotent)."""
        if scale not in SCALES:
            typer.echo(f"unknown scale {scale!r}: small or city", err=True)
            raise typer.Exit(2)
        urls = {"voting": voting or "http://127.0.0.1:8001", "scoring": scoring or "http://127.0.0.1:8002",
                "tracking": tracking or "http://127.0.0.1:8003"}
        key = key or (Path(var_dir) / "operator.key").read_text().strip()
        try:
            run_demo(urls, key, scale, var_dir=Path(var_dir))
        except Step as exc:
            typer.echo(f"demo stopped: {exc}", err=True)
            raise typer.Exit(1) from None
