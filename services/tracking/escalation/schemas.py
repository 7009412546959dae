from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from services.tracking.domain.escalation import EscalationMeasure
from shared.text import Date, DateTime, PersonName, RequestModel, name, prose


class EscalationStepCreate(RequestModel):
    """A measure decided after a second 不满意, and who decided it."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "measure": "written_self_examination",
            "decided_by": "淄博市人大常委会主任会议",
            "decided_at": "2021-11-05T10:00:00+08:00",
            "note": "责成市住房和城乡建设局向常委会作出书面检查。",
        },
    ]})

    measure: EscalationMeasure
    decided_by: name(200)
    decided_at: DateTime | None = Field(None, description="defaults to now")
    note: prose(5000, min_length=0) | None = None


class EscalationStepOut(BaseModel):
    id: str
    case_id: str
    unsatisfied_round: int
    measure: str
    measure_label: str
    decided_by: str
    decided_at: dt.datetime
    source: str
    note: str | None


class InterpellationMotionCreate(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "subject": "关于市住房和城乡建设局物业服务管理整改不力的质询案",
            "sponsors": ["张建国", "李秀英", "王志强", "孙立新", "周晓燕"],
            "filed_on": "2021-11-10",
        },
    ]})

    subject: prose(5000)
    sponsors: list[PersonName] = Field(max_length=200, description="members sponsoring the motion; at least 5")
    filed_on: Date


class InterpellationAnswer(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "answered_by": "淄博市住房和城乡建设局局长",
            "answered_on": "2021-12-20",
            "answer": "我局对整改不力深刻反思，已制定专项整改方案，明确12项措施和完成时限。",
        },
    ]})

    answered_by: name(200)
    answered_on: Date
    answer: prose(10000)


class InterpellationMotionOut(BaseModel):
    id: str
    case_id: str
    escalation_step_id: str | None
    subject: str
    sponsors: list[str]
    filed_on: dt.date
    answer: str | None
    answered_by: str | None
    answered_on: dt.date | None
