from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from services.tracking.domain.escalation import EscalationMeasure
from shared.web.text import Date, DateTime, PersonName, RequestModel, name, prose


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

    measure: EscalationMeasure = Field(description="written_self_examination (书面检查), admonition_talk (约谈), "
                                                   "interpellation_motion (质询案) or disciplinary_recommendation "
                                                   "(建议有关机关依法处理)")
    decided_by: name(200) = Field(description="who decided it, e.g. 主任会议 (1-200 characters); public")
    decided_at: DateTime | None = Field(None, description="defaults to now")
    note: prose(5000, min_length=0) | None = Field(None, description="a note (at most 5000 characters)")


class EscalationStepOut(BaseModel):
    id: str = Field(description="the step's id (UUID)")
    case_id: str = Field(description="the case")
    unsatisfied_round: int = Field(description="the 不满意 round it follows (2)")
    measure: str = Field(description="written_self_examination (书面检查), admonition_talk (约谈), interpellation_motion "
                                     "(质询案) or disciplinary_recommendation (建议有关机关依法处理)")
    measure_label: str = Field(description="the measure in Chinese")
    decided_by: str = Field(description="who decided it")
    decided_at: dt.datetime = Field(description="when (ISO 8601, UTC)")
    source: str = Field(description="where the change came from: `http:<method> <path> request_id=<id>` for a "
                                    "request, `event:<event_id>` for a handled event (the plan's policy on the "
                                    "second 不满意)")
    note: str | None = Field(description="a note; null if none")


class InterpellationMotionCreate(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "subject": "关于市住房和城乡建设局物业服务管理整改不力的质询案",
            "sponsors": ["张建国", "李秀英", "王志强", "孙立新", "周晓燕"],
            "filed_on": "2021-11-10",
        },
    ]})

    subject: prose(5000) = Field(description="what the motion asks (1-5000 characters); public")
    sponsors: list[PersonName] = Field(max_length=200, description="members sponsoring the motion; at least 5")
    filed_on: Date = Field(description="when it was filed, YYYY-MM-DD")


class InterpellationAnswer(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "answered_by": "淄博市住房和城乡建设局局长",
            "answered_on": "2021-12-20",
            "answer": "我局对整改不力深刻反思，已制定专项整改方案，明确12项措施和完成时限。",
        },
    ]})

    answered_by: name(200) = Field(description="who answered, by office (1-200 characters); public")
    answered_on: Date = Field(description="when, YYYY-MM-DD, not before the filing")
    answer: prose(10000) = Field(description="the answer (1-10000 characters); public")


class InterpellationMotionOut(BaseModel):
    id: str = Field(description="the motion's id (UUID)")
    case_id: str = Field(description="the case")
    escalation_step_id: str | None = Field(description="the escalation step it answers; null if none")
    subject: str = Field(description="what it asks")
    sponsors: list[str] = Field(description="the sponsoring members' names")
    filed_on: dt.date = Field(description="when it was filed")
    answer: str | None = Field(description="the answer; null until answered")
    answered_by: str | None = Field(description="who answered; null until then")
    answered_on: dt.date | None = Field(description="when; null until then")
