"""`/v1/webhooks`: an admin registers, lists, pauses, resumes and deletes the
subscriptions to this service's events, and reads and redelivers their
deliveries. The same routes on each service, for the events it produces
(see `shared/messaging/webhooks.py` for why each service owns its own)."""

import datetime as dt
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from shared.security.credentials import Principal
from shared.messaging.events import utcnow
from shared.security.idempotency import IdempotencyDep
from shared.web.pagination import Cursor, Limit, Page, paginate
from shared.web.problems import Problem, not_found, problem_responses
from shared.security.access import require
from shared.ops.runtime import SessionDep
from shared.messaging.webhooks import ACTIVE, PAUSED, PENDING, UrlPolicy, WebhookModels, new_secret

WebhookUrl = Annotated[str, StringConstraints(strip_whitespace=True, min_length=8, max_length=2000, pattern=r"^https?://[^\s]+$")]
DeliveryId = Annotated[int, Path(ge=1, le=2**62)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class WebhookOut(BaseModel):
    id: str = Field(description="the subscription's id (opaque, assigned on registration)")
    url: str = Field(description="the http(s) URL deliveries are POSTed to")
    description: str = Field(description="who receives the deliveries, as the registering admin wrote it")
    event_types: list[str] = Field(description="the event types (topics) delivered, sorted, e.g. `ballot.closed`")
    status: str = Field(description="active: deliveries go out; paused (by an admin) or disabled (after failing for "
                                    "the whole retry window): deliveries are recorded and wait for resume")
    disabled_reason: str | None = Field(description="why the subscription was disabled, when it was")
    created_at: dt.datetime = Field(description="when it was registered (ISO 8601, UTC)")
    updated_at: dt.datetime = Field(description="when it was last paused, resumed or disabled (ISO 8601, UTC)")
    last_success_at: dt.datetime | None = Field(description="the last delivery the receiver took (2xx); null if none yet")
    last_failure_at: dt.datetime | None = Field(description="the last attempt that failed; null if none")
    consecutive_failures: int = Field(description="failed attempts since the last delivered one")


class WebhookCreated(WebhookOut):
    secret: str = Field(description="the signing secret (whsec_…): shown once, here; verify each delivery with it")


class DeliveryOut(BaseModel):
    id: int = Field(description="the delivery's id in this subscription's log; the path's `delivery_id`")
    event_id: str = Field(description="also the delivery's `webhook-id` header: dedupe by it")
    event_type: str = Field(description="the event's topic, e.g. `ballot.closed`")
    status: str = Field(description="pending (waiting or retrying), delivered, or failed (given up)")
    attempts: int = Field(description="HTTP attempts made so far (0 before the first)")
    created_at: dt.datetime = Field(description="when the event committed and the delivery was recorded (ISO 8601, UTC)")
    last_attempt_at: dt.datetime | None = Field(description="when it was last tried; null before the first attempt")
    next_attempt_at: dt.datetime | None = Field(description="when it will be tried next (exponential backoff); null "
                                                            "once delivered or failed")
    last_response_code: int | None = Field(description="HTTP status of the last attempt; null if none came back")
    last_error: str | None = Field(description="what went wrong on the last attempt (status or connection error); null if none")
    delivered_at: dt.datetime | None = Field(description="when the receiver took it (2xx); null until then")


def _subscription_out(row, cls: type[WebhookOut] = WebhookOut, **extra) -> WebhookOut:
    return cls(id=row.id, url=row.url, description=row.description, event_types=list(row.event_types),
               status=row.status, disabled_reason=row.disabled_reason, created_at=row.created_at,
               updated_at=row.updated_at, last_success_at=row.last_success_at, last_failure_at=row.last_failure_at,
               consecutive_failures=row.consecutive_failures, **extra)


def _delivery_out(row) -> DeliveryOut:
    return DeliveryOut(id=row.id, event_id=row.event_id, event_type=row.event_type, status=row.status,
                       attempts=row.attempts, created_at=row.created_at, last_attempt_at=row.last_attempt_at,
                       next_attempt_at=row.next_attempt_at, last_response_code=row.last_response_code,
                       last_error=row.last_error, delivered_at=row.delivered_at)


def url_policy(request: Request) -> UrlPolicy:
    settings = request.app.state.settings
    return UrlPolicy.parse(settings.webhook_allowed_hosts, settings.webhook_allowed_networks)


def _wake_dispatcher(request: Request) -> None:
    dispatcher = getattr(request.app.state.runtime, "webhook_dispatcher", None)
    if dispatcher is not None:
        dispatcher.wake()


def webhooks_router(service: str, models: WebhookModels) -> APIRouter:
    router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
    topics = ", ".join(f"`{t}`" for t in models.topics)
    admin = f"An operator with `{service}:admin`"
    Admin = Annotated[Principal, Depends(require(f"{service}:admin"))]
    S, D = models.subscription, models.delivery
    EventType = StrEnum(f"{service.capitalize()}EventType", {t.replace(".", "_"): t for t in models.topics})

    class WebhookCreate(BaseModel):
        model_config = ConfigDict(extra="forbid", title="WebhookCreate", json_schema_extra={"examples": [{
            "url": "https://12345.zibo.gov.cn/hooks/pingyi",
            "event_types": list(models.topics),
            "description": "淄博市12345政务服务便民热线平台：接收评议结果，推送承办单位",
        }]})

        url: WebhookUrl = Field(description="where deliveries are POSTed; checked against WEBHOOK_ALLOWED_HOSTS and "
                                            "WEBHOOK_ALLOWED_NETWORKS")
        event_types: list[EventType] = Field(min_length=1, max_length=len(models.topics),
                                             description="the events of this service to receive")
        description: Description = Field(description="who receives them, for the operators")

    def get_subscription(session: Session, subscription_id: str):
        row = session.get(S, subscription_id)
        if row is None:
            raise not_found("webhook", subscription_id)
        return row

    @router.post("", status_code=201, response_model=WebhookCreated, responses=problem_responses(409, 422),
                 summary="Register a webhook; the signing secret is shown once, in this answer",
                 description=f"{admin} registers another system (the 12345 platform, the government portal, a "
                             f"discipline-inspection system) to be told of this service's events ({topics}) over "
                             "HTTPS. From this commit on, every such event committed gets a delivery, POSTed with "
                             "Standard Webhooks headers (`webhook-id` = the event id, `webhook-timestamp`, "
                             "`webhook-signature`, HMAC-SHA256 with the secret) and retried with exponential "
                             "backoff for 24 h. The answer carries the `secret` (whsec_…) once; it is never shown "
                             "again. Takes an `Idempotency-Key`. Refusals: `webhook-url-not-allowed` (422, the URL's "
                             "host or address is outside WEBHOOK_ALLOWED_HOSTS / WEBHOOK_ALLOWED_NETWORKS, or plain "
                             "http to a host not allowed it), `validation-error`, `idempotency-key-reused` (422), "
                             "`idempotency-key-in-flight` (409). Causes no event.")
    def create_webhook(data: WebhookCreate, request: Request, session: SessionDep, idem: IdempotencyDep,
                       principal: Admin) -> WebhookCreated:
        if (stored := idem.replay(session)) is not None:
            return stored
        url_policy(request).check(data.url)
        now = utcnow()
        secret = new_secret()
        row = S(url=data.url, description=data.description, event_types=sorted({e.value for e in data.event_types}),
                secret=secret, status=ACTIVE, created_by=principal.name, created_at=now, updated_at=now)
        session.add(row)
        session.flush()
        body = _subscription_out(row, WebhookCreated, secret=secret)
        idem.record(session, 201, body)
        session.commit()
        return body

    @router.get("", response_model=Page[WebhookOut], summary="Webhook subscriptions, oldest first",
                description=f"{admin} lists this service's subscriptions, paused and disabled ones included, with "
                            "their status, failure count and the reason one was disabled; the secret is never "
                            "shown. Changes nothing. Refusals: `invalid-cursor` (422).")
    def list_webhooks(session: SessionDep, _: Admin, limit: Limit = 50, cursor: Cursor = None) -> Page[WebhookOut]:
        return paginate(session, select(S), [S.created_at, S.id], limit=limit, cursor=cursor, to_item=_subscription_out)

    @router.get("/{webhook_id}", response_model=WebhookOut, responses=problem_responses(404), summary="One webhook subscription",
                description=f"{admin} reads one subscription: its status and, when disabled, why; the last success "
                            "and failure. Changes nothing. Refusals: `not-found` (404).")
    def get_webhook(webhook_id: str, session: SessionDep, _: Admin) -> WebhookOut:
        return _subscription_out(get_subscription(session, webhook_id))

    @router.post("/{webhook_id}/pause", response_model=WebhookOut, responses=problem_responses(404),
                 summary="Pause deliveries; events keep being recorded and go out on resume",
                 description=f"{admin} pauses a subscription (the receiver is down for maintenance, say): nothing "
                             "is sent while paused, but a delivery is still recorded for every event, and all of "
                             "them go out on resume. Causes no event. Refusals: `not-found` (404).")
    def pause_webhook(webhook_id: str, session: SessionDep, _: Admin) -> WebhookOut:
        row = get_subscription(session, webhook_id)
        row.status, row.updated_at = PAUSED, utcnow()
        session.commit()
        return _subscription_out(row)

    @router.post("/{webhook_id}/resume", response_model=WebhookOut, responses=problem_responses(404),
                 summary="Resume a paused or disabled webhook; what waited is sent, with a new retry window",
                 description=f"{admin} sets a paused or disabled subscription active again: its failure count and "
                             "reason are cleared, and every pending delivery is due now with a fresh 24 h retry "
                             "window (failed ones stay failed; redeliver them one by one). Causes no event. "
                             "Refusals: `not-found` (404).")
    def resume_webhook(webhook_id: str, request: Request, session: SessionDep, _: Admin) -> WebhookOut:
        row = get_subscription(session, webhook_id)
        now = utcnow()
        row.status, row.disabled_reason, row.updated_at, row.consecutive_failures = ACTIVE, None, now, 0
        session.execute(update(D).where(D.subscription_id == row.id, D.status == PENDING)
                        .values(next_attempt_at=now, window_started_at=now))
        session.commit()
        _wake_dispatcher(request)
        return _subscription_out(row)

    @router.delete("/{webhook_id}", status_code=204, responses=problem_responses(404),
                   summary="Delete a webhook and its delivery log",
                   description=f"{admin} removes a subscription for good, with its delivery log; deliveries not yet "
                               "sent are dropped. Answers 204 with no body. Causes no event. Refusals: `not-found` "
                               "(404).")
    def delete_webhook(webhook_id: str, session: SessionDep, _: Admin) -> Response:
        row = get_subscription(session, webhook_id)
        session.execute(delete(D).where(D.subscription_id == row.id))
        session.delete(row)
        session.commit()
        return Response(status_code=204)

    @router.get("/{webhook_id}/deliveries", response_model=Page[DeliveryOut], responses=problem_responses(404),
                summary="The delivery log: each event's status, attempts and last response code",
                description=f"{admin} (or whoever supports the receiver) reads the deliveries of one "
                            "subscription, oldest first: pending, delivered or failed, with the attempts, the last "
                            "HTTP status and error, and when the next attempt is due. Changes nothing. Refusals: "
                            "`not-found` (404, the subscription), `invalid-cursor` (422).")
    def list_deliveries(webhook_id: str, session: SessionDep, _: Admin, limit: Limit = 50,
                        cursor: Cursor = None) -> Page[DeliveryOut]:
        get_subscription(session, webhook_id)
        return paginate(session, select(D).where(D.subscription_id == webhook_id), [D.id], limit=limit, cursor=cursor,
                        to_item=_delivery_out)

    @router.post("/{webhook_id}/deliveries/{delivery_id}/redelivery", status_code=202, response_model=DeliveryOut,
                 responses=problem_responses(404, 409),
                 summary="Send a delivery again (same webhook-id, so the receiver can dedupe)",
                 description=f"{admin} asks for one delivery to be sent again, delivered or failed (the receiver "
                             "lost it, or was fixed after the retries ran out): it is pending and due now, with a "
                             "fresh retry window, and carries the same `webhook-id`, so a receiver that dedupes "
                             "takes it once. Answers 202; the log shows the outcome. Causes no new event. "
                             "Refusals: `not-found` (404, the subscription or the delivery), "
                             "`delivery-in-progress` (409, it is being sent right now).")
    def redeliver(webhook_id: str, delivery_id: DeliveryId, request: Request, session: SessionDep, _: Admin) -> DeliveryOut:
        get_subscription(session, webhook_id)
        row = session.get(D, delivery_id)
        if row is None or row.subscription_id != webhook_id:
            raise not_found("delivery", delivery_id)
        if row.status == PENDING and row.locked_until is not None and row.locked_until > utcnow():
            raise Problem(409, "delivery-in-progress", "Delivery in progress 正在投递",
                          f"delivery {delivery_id} is being sent right now; look at the log again in a moment")
        now = utcnow()
        row.status, row.next_attempt_at, row.window_started_at, row.delivered_at = PENDING, now, now, None
        session.commit()
        _wake_dispatcher(request)
        return _delivery_out(row)

    return router

