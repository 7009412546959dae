"""The meeting's voting record (会议表决结果): attendance, then each finished ballot
in agenda order with its counts and outcome. Counts only: the record never says
who voted what (nor does voting keep it once a secret ballot closes)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.voting.ballots.service import (
    FINISHED,
    POLL_KIND,
    RESOLUTION_KIND,
    ROUND_TITLES,
    SATISFACTION_KIND,
    SELECTION_KIND,
    option_results,
    options_of,
)
from services.voting.domain.selection import FLOOR_RULES
from services.voting.domain.tally import PASS_BASES, has_quorum, pass_base
from services.voting.meetings.service import get_meeting
from services.voting.models import Ballot
from services.voting.records.schemas import AttendeeRecord, BallotRecord, MeetingRecord, QuestionRecord
from shared.messaging.events import SatisfactionScore

KIND_LABELS = {
    SATISFACTION_KIND: "满意度测评", RESOLUTION_KIND: "表决（赞成/反对/弃权）",
    SELECTION_KIND: "差额票决", POLL_KIND: "推荐投票",
}
ROUND_LABELS = {"main": "第一轮"} | ROUND_TITLES
DENOMINATOR_LABELS = {"all_members": "全体组成人员", "present": "出席人员", "valid_votes": "有效票"}


def keep_grade(session: Session, score: SatisfactionScore) -> None:
    """score.computed (satisfaction): the grade goes on the ballot for its record. The
    same result again writes the same values (idempotent)."""
    ballot = session.get(Ballot, score.ballot_id)
    if ballot is None:
        return
    ballot.grade, ballot.grade_label = score.grade, score.grade_label
    ballot.grade_denominator, ballot.grade_basis = score.denominator, score.denominator_basis


def quorum_line(members_total: int, present: int) -> str:
    verdict = "符合法定人数" if has_quorum(present, members_total) else "不符合法定人数"
    return f"应到{members_total}人，实到{present}人，{verdict}"


def _ballot_record(ballot: Ballot) -> BallotRecord:
    options = options_of(ballot)
    present = ballot.present_at_close if ballot.present_at_close is not None else ballot.present_at_open
    committee = ballot.kind != POLL_KIND
    voted = ballot.status in FINISHED
    counts = ballot.counts if voted else None
    record = dict(
        id=ballot.id, title=ballot.title, kind=ballot.kind, kind_label=KIND_LABELS.get(ballot.kind, ballot.kind),
        round_kind=ballot.round_kind, round_label=ROUND_LABELS.get(ballot.round_kind) if ballot.round_kind else None,
        parent_ballot_id=ballot.parent_ballot_id, status=ballot.status, secret=ballot.secret,
        show_of_hands=ballot.show_of_hands, members_total=ballot.members_total,
        present_at_open=ballot.present_at_open, present_at_close=ballot.present_at_close,
        quorum_met=has_quorum(present, ballot.members_total) if committee and present is not None else None,
        quorum_line=quorum_line(ballot.members_total, present) if committee and present is not None else None,
        results=option_results(counts, options) if voted else [], votes_cast=(ballot.votes_cast or 0) if voted else 0,
        did_not_vote=max(0, present - (ballot.votes_cast or 0)) if voted and committee and present is not None
        and not ballot.show_of_hands else None,
        invalid=(ballot.invalid or 0) if voted else 0, void_reason=ballot.void_reason,
    )
    if not voted:
        return BallotRecord(**record, outcome_label=f"已作废：{ballot.void_reason or ''}".rstrip("："))
    if ballot.kind == RESOLUTION_KIND:
        base = pass_base(ballot.pass_basis or "members_total", members_total=ballot.members_total, present=present or 0,
                         votes_cast=ballot.votes_cast or 0)
        questions = [QuestionRecord(text=q.text, results=option_results(q.counts, options), votes_cast=q.votes_cast or 0,
                                    passed=q.passed, outcome_label="通过" if q.passed else "未通过") for q in ballot.questions]
        passed = all(q.passed for q in questions)
        label = PASS_BASES.get(ballot.pass_basis or "members_total", "")
        outcome = "通过" if passed else ("未全部通过" if len(questions) > 1 else "未通过")
        return BallotRecord(**record, passed=passed, base=base, base_label=f"赞成票超过{label}（{base}人）的半数",
                            questions=questions, outcome_label=outcome)
    if ballot.kind == SATISFACTION_KIND:
        if ballot.grade_label:
            basis = DENOMINATOR_LABELS.get(ballot.grade_basis or "", ballot.grade_basis or "")
            return BallotRecord(**record, grade=ballot.grade, grade_label=ballot.grade_label, base=ballot.grade_denominator,
                                base_label=f"以{basis}（{ballot.grade_denominator}人）为基数", outcome_label=ballot.grade_label)
        return BallotRecord(**record, outcome_label="测评等次待评定")
    if ballot.kind == SELECTION_KIND:
        winners = list(ballot.winners or [])
        if ballot.round_kind == "list_runoff":
            # Places on the supplementary list, not seats: the next round shows who stands.
            return BallotRecord(**record, seats=ballot.seats, winners=[], outcome_label="平票候选人再次投票，确定另行选举候选人")
        floor = FLOOR_RULES.get(ballot.floor_rule or "", "")
        filled = len(winners) == ballot.seats
        outcome = ("当选：" + "、".join(winners)) if winners else "无人当选"
        if not filled:
            outcome += f"；{ballot.seats - len(winners)}个名额未选出"
        return BallotRecord(**record, seats=ballot.seats, winners=winners, passed=filled,
                            base=ballot.members_total if ballot.floor_rule == "majority_of_members" else None,
                            base_label=f"当选须得票{floor}", outcome_label=outcome)
    return BallotRecord(**record, outcome_label="推荐结果见得票数")


def meeting_record(session: Session, meeting_id: str) -> MeetingRecord:
    meeting = get_meeting(session, meeting_id)
    positions = {item.id: item.position for item in meeting.agenda}
    ballots = session.scalars(select(Ballot).where(Ballot.meeting_id == meeting.id)).all()
    shown = [b for b in ballots if b.status in FINISHED or b.status == "void"]
    shown.sort(key=lambda b: (positions.get(b.agenda_item_id, len(positions)), b.created_at, b.id))
    present = [m for m in meeting.members if m.present]
    return MeetingRecord(
        meeting_id=meeting.id, number=meeting.number, held_on=meeting.held_on, place=meeting.place,
        members_total=len(meeting.members), present=len(present),
        absent=[m.name for m in meeting.members if not m.present],
        nonvoting_attendees=[AttendeeRecord(name=a.name, affiliation=a.affiliation) for a in meeting.nonvoting_attendees],
        ballots=[_ballot_record(b) for b in shown],
    )
