"""`pingyi`: run, serve, migrate, broker, events, keys, audit and member-token commands."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from shared.ops.migrations import SERVICES

app = typer.Typer(help="Pingyi (评议): special work evaluation of government departments.", no_args_is_help=True)

ServiceName = Annotated[str, typer.Argument(help="voting, scoring or tracking")]
# The fourth service: the people's pages; no database, nothing to migrate.
PORTAL = "portal"


def _check_service(service: str) -> None:
    if service not in SERVICES:
        typer.echo(f"unknown service {service!r}; expected one of: {', '.join(SERVICES)}", err=True)
        raise typer.Exit(2)


def _settings_for(service: str):
    from pydantic import ValidationError

    module = __import__(f"services.{service}.settings", fromlist=["x"])
    cls = getattr(module, f"{service.capitalize()}Settings")
    try:
        return cls()
    except ValidationError as exc:
        prefix = service.upper() + "_"
        names = ", ".join(prefix + ".".join(str(p) for p in e["loc"]).upper() for e in exc.errors())
        typer.echo(f"invalid configuration: {names}\n{exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help="voting, scoring, tracking or portal")],
    host: str = typer.Option("127.0.0.1", help="address to bind"),
    port: int = typer.Option(8000, help="port to bind"),
    graceful_timeout: int = typer.Option(15, help="seconds to finish requests on stop"),
) -> None:
    """Run one service (HTTP, outbox relay and event consumer) under uvicorn; or the portal."""
    from shared.web.server import serve as serve_app

    if service == PORTAL:
        from services.portal.app import create_app as portal_app
        from services.portal.settings import PortalSettings

        settings = PortalSettings()
        factory = portal_app
    else:
        _check_service(service)
        settings = _settings_for(service)
        factory = __import__(f"services.{service}.app", fromlist=["create_app"]).create_app
    serve_app(
        factory(settings),
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=graceful_timeout,
        root_path=settings.root_path,  # links and /docs carry the proxy's prefix
        access_log=False,  # our middleware logs each request with its request id
        # uvicorn believes X-Forwarded-For from 127.0.0.1 by default (and FORWARDED_ALLOW_IPS):
        # off; the app believes forwarding headers only from <SERVICE>_TRUSTED_PROXIES (shared/web/forwarded.py).
        proxy_headers=False,
        forwarded_allow_ips="",
        log_config=None,  # keep the JSON logging the app configured
    )


@app.command()
def migrate(
    service: Annotated[str, typer.Argument(help="voting, scoring, tracking or all")] = "all",
    revision: str = typer.Option("head", help="Alembic revision to upgrade to"),
) -> None:
    """Upgrade a service's database (from <SERVICE>_DATABASE_URL) to the latest schema."""
    from shared.ops.migrations import upgrade

    services = SERVICES if service == "all" else (service,)
    for name in services:
        _check_service(name)
        settings = _settings_for(name)
        upgrade(name, settings.database_url, revision)
        typer.echo(f"{name}: migrated to {revision}")


events_app = typer.Typer(help="Events a service could not handle (parked in its inbox), and re-sending what it published.",
                         no_args_is_help=True)
app.add_typer(events_app, name="events")


def _service_parts(service: str):
    """The service's database, inbox model and event handlers, without starting it."""
    from shared.db import Database

    _check_service(service)
    settings = _settings_for(service)
    app_module = __import__(f"services.{service}.app", fromlist=["create_app"])
    models = __import__(f"services.{service}.models", fromlist=["InboxMessage"])
    db = Database(settings.database_url)
    handlers = app_module.create_app(settings.model_copy(update={"run_relay": False, "run_consumer": False}), db=db).state.runtime.handlers
    return db, models.InboxMessage, handlers


@events_app.command("parked")
def events_parked(service: ServiceName) -> None:
    """List the events parked after failing every attempt."""
    from sqlalchemy import select

    db, inbox, _ = _service_parts(service)
    with db.session() as session:
        rows = session.scalars(select(inbox).where(inbox.status == "parked").order_by(inbox.handled_at)).all()
        for row in rows:
            typer.echo(f"{row.event_id}  {row.topic}  attempts={row.attempts}  {row.handled_at:%Y-%m-%dT%H:%M:%SZ}  {row.error}")
    typer.echo(f"{len(rows)} parked")


@events_app.command("retry")
def events_retry(service: ServiceName) -> None:
    """Handle the parked events again (after fixing their cause)."""
    from shared.messaging.inbox import retry_parked

    db, inbox, handlers = _service_parts(service)
    outcome = retry_parked(db, inbox, handlers)
    typer.echo(f"handled {outcome['handled']}, still failing {outcome['still_failing']}")
    if outcome["still_failing"]:
        raise typer.Exit(1)


@events_app.command("resend")
def events_resend(
    service: ServiceName,
    since: str = typer.Option(None, help="re-send events created at or after this ISO 8601 time (UTC when no offset)"),
    from_id: int = typer.Option(None, "--from-id", help="re-send events from this outbox id on"),
) -> None:
    """Publish a service's sent events again, in their original order (after a broker lost them).
    The consumers' inboxes drop what they already handled; the running relay sends them."""
    import datetime as dt

    from shared.db import Database
    from shared.messaging.outbox import mark_for_resend

    _check_service(service)
    if (since is None) == (from_id is None):
        typer.echo("give exactly one of --since TIME or --from-id N", err=True)
        raise typer.Exit(2)
    when = None
    if since is not None:
        try:
            when = dt.datetime.fromisoformat(since)
        except ValueError:
            typer.echo(f"--since takes an ISO 8601 time such as 2026-12-01T08:00:00+08:00, not {since!r}", err=True)
            raise typer.Exit(2) from None
        when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    if from_id is not None and from_id < 1:
        typer.echo("--from-id takes an outbox id, 1 or more", err=True)
        raise typer.Exit(2)
    models = __import__(f"services.{service}.models", fromlist=["OutboxMessage"])
    db = Database(_settings_for(service).database_url)
    try:
        count = mark_for_resend(db, models.OutboxMessage, since=when, from_id=from_id)
    finally:
        db.dispose()
    typer.echo(f"{service}: {count} events pending again; the relay publishes them in id order "
               "(watch pingyi_outbox_pending fall to 0)")


keys_app = typer.Typer(help="API keys for integrating systems (stored hashed in each service's database).",
                       no_args_is_help=True)
app.add_typer(keys_app, name="keys")

from shared.security.credentials import KNOWN_SCOPES  # noqa: E402


def _security_parts(service: str):
    from shared.db import Database

    _check_service(service)
    models = __import__(f"services.{service}.models", fromlist=["SECURITY_MODELS"])
    return Database(_settings_for(service).database_url), models.SECURITY_MODELS


def _services_option(value: str) -> tuple[str, ...]:
    names = SERVICES if value == "all" else tuple(v.strip() for v in value.split(",") if v.strip())
    for name in names:
        _check_service(name)
    return names


@keys_app.command("create")
def keys_create(
    name: str = typer.Argument(help="who the key is for, e.g. 12345平台"),
    scope: Annotated[list[str], typer.Option("--scope", "-s", help=f"repeatable; one of {', '.join(KNOWN_SCOPES)}")] = None,
    department: str = typer.Option(None, help="a department's key acts for this department only"),
    services: str = typer.Option("all", "--services", help="comma-separated services to store it in, or all"),
) -> None:
    """Create a key and print it once; only its hash is stored."""
    from shared.security.credentials import new_api_key, store_api_key
    from shared.web.problems import Problem

    scopes = sorted(set(scope or []))
    unknown = [s for s in scopes if s not in KNOWN_SCOPES]
    if not scopes or unknown:
        typer.echo(f"give at least one --scope from: {', '.join(KNOWN_SCOPES)}" + (f" (unknown: {', '.join(unknown)})" if unknown else ""), err=True)
        raise typer.Exit(2)
    if "tracking:write" in scopes and not department:
        # A department's key acts for its department only; without one it would act for all.
        typer.echo("tracking:write is a department's scope: give --department", err=True)
        raise typer.Exit(2)
    targets = _services_option(services)
    _, key = new_api_key()
    opened = [(_security_parts(svc)) for svc in targets]
    sessions = [db.sessionmaker() for db, _ in opened]
    try:
        for session, (_, models) in zip(sessions, opened, strict=True):
            store_api_key(session, models.api_key, key, name=name, scopes=scopes, department=department)
        for session in sessions:  # all or none, as far as separate databases allow
            session.commit()
    except Problem as exc:
        typer.echo(exc.detail, err=True)
        raise typer.Exit(1) from None
    finally:
        for session in sessions:
            session.close()
    typer.echo(key)
    typer.echo(f"stored for {', '.join(targets)} with scopes {' '.join(scopes)}"
               + (f", acting for {department}" if department else "") + "; it is not shown again", err=True)


@keys_app.command("list")
def keys_list(services: str = typer.Option("all", "--services")) -> None:
    """List keys (never the keys themselves): name, prefix, scopes, department, use, revocation."""
    from sqlalchemy import select

    for svc in _services_option(services):
        db, models = _security_parts(svc)
        with db.session() as session:
            rows = session.scalars(select(models.api_key).order_by(models.api_key.name)).all()
            for row in rows:
                state = f"revoked {row.revoked_at:%Y-%m-%dT%H:%M:%SZ}" if row.revoked_at else "active"
                used = f"{row.last_used_at:%Y-%m-%dT%H:%M:%SZ}" if row.last_used_at else "never"
                typer.echo(f"{svc:9} {row.name}  pyk_{row.id}_…  [{' '.join(row.scopes)}]  "
                           f"department={row.department or '-'}  last_used={used}  {state}")
        db.dispose()


@keys_app.command("revoke")
def keys_revoke(name: str, services: str = typer.Option("all", "--services")) -> None:
    """Revoke a key by name; it is refused from the next request on."""
    from shared.security.credentials import revoke_api_key

    revoked = []
    for svc in _services_option(services):
        db, models = _security_parts(svc)
        with db.session() as session:
            if revoke_api_key(session, models.api_key, name):
                revoked.append(svc)
        db.dispose()
    if not revoked:
        typer.echo(f"no active key named {name!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {name!r} in {', '.join(revoked)}")


audit_app = typer.Typer(help="The tamper-evident audit chain of each service.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    service: Annotated[str, typer.Argument(help="voting, scoring, tracking or all")] = "all",
    anchor: Annotated[list[str], typer.Option(
        help="SEQ:HASH printed as 'head' by an earlier run and kept outside the database (repeatable); "
             "a chain rewritten from before it, hashes recomputed, no longer has it")] = None,
) -> None:
    """Walk each chain from the start; name the first entry that does not hold (exit 1).
    Prints each chain's head: keep it elsewhere and pass it back with --anchor."""
    from sqlalchemy import select

    from shared.security.audit import link_all, verify

    anchors = []
    for spec in anchor or []:
        seq, _, digest = spec.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            typer.echo(f"--anchor takes SEQ:HASH (a 64-character SHA-256), not {spec!r}", err=True)
            raise typer.Exit(2)
        anchors.append((int(seq), digest))
    targets = _services_option(service)
    if anchors and len(targets) != 1:
        typer.echo("--anchor belongs to one service's chain: name the service", err=True)
        raise typer.Exit(2)
    broken = False
    for svc in targets:
        db, models = _security_parts(svc)
        model = models.audit_entry
        link_all(db, model)  # entries the service has not linked yet (it may be down)
        with db.session() as session:
            check = verify(session, model)
            head = session.execute(select(model.seq, model.hash).where(model.seq.is_not(None))
                                   .order_by(model.seq.desc()).limit(1)).first()
            kept = {seq: session.scalar(select(model.hash).where(model.seq == seq)) for seq, _ in anchors}
        db.dispose()
        if not check.intact:
            broken = True
            typer.echo(f"{svc}: BROKEN at entry {check.first_broken_id} ({check.reason}); {check.entries} entries before it hold")
            continue
        moved = [(seq, digest) for seq, digest in anchors if kept[seq] != digest]
        if moved:
            broken = True
            seq, _ = moved[0]
            typer.echo(f"{svc}: REWRITTEN: entry {seq} no longer has the hash anchored earlier "
                       f"({'it is gone' if kept[seq] is None else 'the history up to it was recomputed'})")
            continue
        typer.echo(f"{svc}: intact, {check.entries} entries" + (f", head {head.seq}:{head.hash}" if head else ""))
    if broken:
        raise typer.Exit(1)


@app.command("member-token")
def member_token(
    member_id: str = typer.Argument(help="the roster member's id"),
    meeting_id: str = typer.Argument(help="the meeting the token is good for"),
    clerk: bool = typer.Option(False, help="a clerk's token also runs the meeting's votes (voting:run)"),
    seat_card: Path = typer.Option(None, help="also write the seat card's QR code (SVG) opening the portal's sign-in"),
    portal_url: str = typer.Option("http://127.0.0.1:8000", help="the portal's address, for --seat-card"),
) -> None:
    """Issue a member token (JWT) signed with VOTING_AUTH_TOKEN_SECRET."""
    import datetime as dt

    from shared.security.credentials import issue_member_token, member_scopes

    settings = _settings_for("voting")
    scopes = member_scopes(clerk=clerk)
    token = issue_member_token(settings.auth_token_secret, member_id=member_id, meeting_id=meeting_id, scopes=scopes,
                               ttl=dt.timedelta(hours=settings.member_token_ttl_hours))
    typer.echo(token)
    if seat_card is not None:
        from services.portal.seat_card import seat_card_svg, sign_in_link

        seat_card.write_bytes(seat_card_svg(sign_in_link(portal_url, token), title=f"{member_id} 表决登录"))
        typer.echo(f"seat card: {seat_card} (opens {portal_url.rstrip('/')}/vote/sign-in)", err=True)


@app.command()
def asyncapi(
    service: str = typer.Option("", help="voting, scoring or tracking: only the events it produces; empty: all"),
) -> None:
    """Print the AsyncAPI 3 document of the events (docs/asyncapi.yaml is this output)."""
    from shared.messaging.asyncapi import asyncapi_yaml

    if service:
        _check_service(service)
    typer.echo(asyncapi_yaml(service or None), nl=False)


@app.command()
def broker(port: int = typer.Option(9092, help="loopback port for Tansu")) -> None:
    """Run the embedded Kafka-compatible broker (Tansu) in the foreground."""
    from shared.messaging.broker import TansuBroker

    with TansuBroker(port=port) as tansu:
        typer.echo(f"Tansu listening on {tansu.bootstrap}; Ctrl-C stops it")
        _wait_for_signal()


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass


@app.command()
def run(var_dir: Path = typer.Option(Path("var"), help="where the SQLite files and logs go")) -> None:
    """Start everything on the embedded default: Tansu, SQLite, the three services and the portal."""
    from shared.ops.embedded import EmbeddedStack

    stack = EmbeddedStack(var_dir=var_dir)
    typer.echo("starting Tansu, migrating, starting voting, scoring, tracking, portal …")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stack.start()
    try:
        typer.echo(f"portal    {stack.url(PORTAL)}/   (the public site; the board at /board/<meeting id>, members vote at /vote)")
        typer.echo(f"broker: {stack.broker.bootstrap}   logs: {var_dir}/*.log")
        typer.echo(f"operator API key (every service's admin scope): {stack.operator_key_path}\n"
                   f'  curl -H "Authorization: Bearer $(cat {stack.operator_key_path})" {stack.url("voting")}/v1/meetings')
        for service in SERVICES:
            typer.echo(f"{service:9} {stack.url(service)}/docs   (OpenAPI: {stack.url(service)}/openapi.json)")
        gateway = stack.service_env("voting")["VOTING_SMS_GATEWAY"]
        if gateway.startswith("file:"):
            typer.echo(f"public-vote SMS codes (file gateway): {gateway[len('file:'):]}")
        typer.echo("Ctrl-C stops everything.")
        while not stop.wait(0.5):
            crashed = stack.crashed()
            if crashed:
                typer.echo(f"stopped unexpectedly: {', '.join(crashed)}; see {var_dir}/", err=True)
                raise typer.Exit(1)
    finally:
        typer.echo("stopping …")
        stack.stop()
        typer.echo("stopped.")


from shared.ops.demo import register as register_demo  # noqa: E402  (pingyi demo)
from shared.ops.report import register as register_report  # noqa: E402  (pingyi report)

register_demo(app)
register_report(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
