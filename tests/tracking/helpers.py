"""Builders shared by the tracking tests: events as the other services send them."""

from __future__ import annotations

import datetime as dt
import uuid

from shared.messaging.events import BallotClosed, Envelope, SatisfactionScore, ScoreComputed, Tally, VoteMarkedUnsatisfied

YEAR = 2021
SELECTION_DATE = dt.date(2021, 2, 26)
WINNERS = ["淄博市生态环境局", "淄博市住房和城乡建设局"]


def selection_closed(winners: list[str] = WINNERS, *, kind: str = "competitive_selection", year: int | None = YEAR,
                     meeting_date: dt.date = SELECTION_DATE, batch: int | None = 1) -> Envelope:
    return BallotClosed(
        ballot_id=str(uuid.uuid4()),
        ballot_kind=kind,
        meeting_id=str(uuid.uuid4()),
        meeting_number="第四十四次",
        meeting_date=meeting_date,
        tally=Tally(counts={w: 40 for w in winners}, votes_cast=55, present=55, members_total=60),
        closed_at=dt.datetime.combine(meeting_date, dt.time(2, 0), tzinfo=dt.UTC),
        evaluation_year=year,
        batch=batch,
        seats=len(winners),
        winners=winners if kind == "competitive_selection" else None,
        round_kind="main",
    ).envelope(producer="voting", key=str(uuid.uuid4()))


def marked_unsatisfied(department: str, *, unsatisfied_round: int = 1, vote_round: int = 1,
                       meeting_date: dt.date = dt.date(2021, 8, 27), year: int = YEAR) -> Envelope:
    return VoteMarkedUnsatisfied(
        department=department, evaluation_year=year, unsatisfied_round=unsatisfied_round, vote_round=vote_round,
        ballot_id=str(uuid.uuid4()), meeting_id=str(uuid.uuid4()), meeting_date=meeting_date,
    ).envelope(producer="scoring", key=department)


def graded(department: str, grade: str, *, vote_round: int = 1, year: int = YEAR) -> Envelope:
    labels = {"satisfied": "满意", "basically_satisfied": "基本满意", "unsatisfied": "不满意"}
    return ScoreComputed(
        computation_id=str(uuid.uuid4()),
        kind="satisfaction",
        satisfaction=SatisfactionScore(
            ballot_id=str(uuid.uuid4()), department=department, evaluation_year=year, vote_round=vote_round,
            meeting_id=str(uuid.uuid4()), meeting_date=dt.date(2021, 10, 28), grade=grade, grade_label=labels[grade],
            counts={"satisfied": 20, "basically_satisfied": 20, "unsatisfied": 10}, denominator=60,
            denominator_basis="all_members",
        ),
    ).envelope(producer="scoring", key=department)


def redelivered(envelope: Envelope) -> Envelope:
    """The same message as a consumer would read it again from the broker."""
    return Envelope.from_bytes(envelope.to_bytes())


def commitment_body(**overrides) -> dict:
    body = {
        "problem": "建筑工地扬尘投诉集中",
        "evidence": [{"kind": "hotline_category", "reference": "环境保护/扬尘污染", "label": "12345热线：扬尘污染"}],
        "measure": "建立工地扬尘在线监测，每月通报",
        "responsible_unit": "大气污染防治科",
        "responsible_person": "王科长",
        "deadline": "2021-06-30",
        "internal_note": "该科室人手不足，需协调",
    }
    body.update(overrides)
    return body
