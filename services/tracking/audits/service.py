"""Audit-findings rectification (审计查出问题整改): findings, measures, report within 6 months."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from services.tracking.audits.schemas import (
    AuditCaseClose,
    AuditCaseCreate,
    AuditCaseOut,
    AuditFindingCreate,
    AuditFindingOut,
    AuditFindingRectified,
    AuditReport,
)
from services.tracking.domain.milestones import is_overdue
from services.tracking.domain.supervision import audit_report_due
from services.tracking.history import append_history
from services.tracking.models import AuditCase, AuditFinding
from services.tracking.sources import today
from shared.web.pagination import Page, paginate
from shared.web.problems import Problem, not_found


def create_audit_case(session: Session, body: AuditCaseCreate, source: str) -> AuditCase:
    case = AuditCase(**body.model_dump(), report_due_on=audit_report_due(body.received_on), status="open", history=[])
    append_history(case, "opened", f"{body.audited_unit}审计查出问题整改立项，{case.report_due_on}前报告整改情况", source)
    session.add(case)
    session.flush()
    return case


def get_audit_case(session: Session, case_id: str) -> AuditCase:
    case = session.get(AuditCase, case_id, options=[selectinload(AuditCase.findings)])
    if case is None:
        raise not_found("audit case", case_id)
    return case


def _require_open(case: AuditCase) -> None:
    if case.status == "closed":
        raise Problem(409, "audit-case-closed", "Audit case closed 审计整改已办结", "a closed audit case takes no more changes")


def add_finding(session: Session, case_id: str, body: AuditFindingCreate, source: str) -> AuditFinding:
    case = get_audit_case(session, case_id)
    _require_open(case)
    finding = AuditFinding(audit_case_id=case.id, finding=body.finding, measure=body.measure, status="open")
    session.add(finding)
    append_history(case, "finding_added", f"审计查出问题：{body.finding[:60]}", source)
    session.flush()
    return finding


def rectify_finding(session: Session, finding_id: str, body: AuditFindingRectified, source: str) -> AuditFinding:
    finding = session.get(AuditFinding, finding_id)
    if finding is None:
        raise not_found("audit finding", finding_id)
    case = get_audit_case(session, finding.audit_case_id)
    _require_open(case)
    if finding.status == "rectified":
        raise Problem(409, "finding-rectified", "Finding already rectified 该问题已整改", f"rectified on {finding.rectified_on}")
    if body.rectified_on < case.received_on:
        raise Problem(422, "date-before-audit", "Date before the audit report 日期早于审计报告交办日期",
                      f"rectified_on {body.rectified_on} is before {case.received_on}")
    finding.status, finding.rectified_on, finding.evidence = "rectified", body.rectified_on, body.evidence
    append_history(case, "finding_rectified", f"问题已整改：{finding.finding[:60]}", source)
    return finding


def submit_report(session: Session, case_id: str, body: AuditReport, source: str) -> AuditCase:
    case = get_audit_case(session, case_id)
    _require_open(case)
    if case.report_submitted_on is not None:
        raise Problem(409, "audit-report-submitted", "Report already submitted 整改情况报告已提交", f"submitted on {case.report_submitted_on}")
    if body.submitted_on < case.received_on:
        raise Problem(422, "date-before-audit", "Date before the audit report 日期早于审计报告交办日期",
                      f"submitted_on {body.submitted_on} is before {case.received_on}")
    case.report_submitted_on, case.report_summary, case.status = body.submitted_on, body.summary, "reported"
    append_history(case, "report_submitted", f"{body.submitted_on}报告整改情况", source)
    return case


def close_audit_case(session: Session, case_id: str, body: AuditCaseClose, source: str) -> AuditCase:
    case = get_audit_case(session, case_id)
    _require_open(case)
    if case.report_submitted_on is None:
        raise Problem(409, "audit-close-needs-report", "Report not submitted 尚未报告整改情况",
                      "an audit case closes after its rectification report", rule="report_before_close")
    open_findings = [f for f in case.findings if f.status != "rectified"]
    if open_findings:
        raise Problem(409, "audit-close-open-findings", "Findings not rectified 仍有问题未整改",
                      f"{len(open_findings)} finding(s) are not rectified", rule="every_finding_rectified", open_findings=len(open_findings))
    case.status, case.closed_by = "closed", body.closed_by
    append_history(case, "closed", "审计查出问题整改办结", source)
    return case


def list_audit_cases(session: Session, *, limit: int, cursor: str | None, audited_unit: str | None = None) -> Page[AuditCaseOut]:
    stmt = select(AuditCase).options(selectinload(AuditCase.findings))
    if audited_unit is not None:
        stmt = stmt.where(AuditCase.audited_unit == audited_unit)
    on = today()
    return paginate(session, stmt, [AuditCase.created_at, AuditCase.id], limit=limit, cursor=cursor, to_item=lambda c: audit_case_out(c, on))


def audit_case_out(c: AuditCase, on=None) -> AuditCaseOut:
    return AuditCaseOut(
        id=c.id, audit_year=c.audit_year, audited_unit=c.audited_unit, report_title=c.report_title, received_on=c.received_on,
        report_due_on=c.report_due_on, report_submitted_on=c.report_submitted_on, report_summary=c.report_summary,
        report_overdue=is_overdue(c.report_due_on, c.report_submitted_on is not None, on or today()), status=c.status,
        closed_by=c.closed_by, findings=[AuditFindingOut.model_validate(f, from_attributes=True) for f in c.findings],
        history=c.history or [],
    )
