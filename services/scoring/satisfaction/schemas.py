from __future__ import annotations

import datetime as dt

from pydantic import BaseModel



class SatisfactionResultOut(BaseModel):
    id: str
    ballot_id: str
    department: str
    evaluation_year: int
    vote_round: int
    meeting_id: str
    meeting_number: str
    meeting_date: dt.date
    grade: str
    grade_label: str
    counts: dict[str, int]
    invalid: int
    votes_cast: int
    present: int
    members_total: int
    denominator: int
    denominator_basis: str
    grades_in_rule: int
    unsatisfied_round: int | None
    computed_at: dt.datetime
