"""`pingyi`: run, serve, migrate and broker commands."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from shared.migrations import SERVICES

app = typer.Typer(help="Pingyi (评议): special work evaluation of government departments.", no_args_is_help=True)

ServiceName = Annotated[str, typer.Argument(help="voting, scoring or tracking")]


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
    service: ServiceName,
    host: str = typer.Option("127.0.0.1", help="address to bind"),
    port: int = typer.Option(8000, help="port to bind"),
    graceful_timeout: int = typer.Option(15, help="seconds to finish requests on stop"),
) -> None:
    """Run one service (HTTP, outbox relay and event consumer) under uvicorn."""
    import uvicorn

    _check_service(service)
    settings = _settings_for(service)
    factory = __import__(f"services.{service}.app", fromlist=["create_app"]).create_app
    uvicorn.run(
        factory(settings),
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=graceful_timeout,
        access_log=False,  # our middleware logs each request with its request id
        log_config=None,  # keep the JSON logging the app configured
    )


@app.command()
def migrate(
    service: Annotated[str, typer.Argument(help="voting, scoring, tracking or all")] = "all",
    revision: str = typer.Option("head", help="Alembic revision to upgrade to"),
) -> None:
    """Upgrade a service's database (from <SERVICE>_DATABASE_URL) to the latest schema."""
    from shared.migrations import upgrade

    services = SERVICES if service == "all" else (service,)
    for name in services:
        _check_service(name)
        settings = _settings_for(name)
        upgrade(name, settings.database_url, revision)
        typer.echo(f"{name}: migrated to {revision}")


events_app = typer.Typer(help="Events a service could not handle (parked in its inbox).", no_args_is_help=True)
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
    from shared.inbox import retry_parked

    db, inbox, handlers = _service_parts(service)
    outcome = retry_parked(db, inbox, handlers)
    typer.echo(f"handled {outcome['handled']}, still failing {outcome['still_failing']}")
    if outcome["still_failing"]:
        raise typer.Exit(1)


@app.command()
def broker(port: int = typer.Option(9092, help="loopback port for Tansu")) -> None:
    """Run the embedded Kafka-compatible broker (Tansu) in the foreground."""
    from shared.broker import TansuBroker

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
    """Start everything on the embedded default: Tansu, SQLite, the three services."""
    from shared.embedded import EmbeddedStack

    stack = EmbeddedStack(var_dir=var_dir)
    typer.echo("starting Tansu, migrating, starting voting, scoring, tracking …")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stack.start()
    try:
        typer.echo(f"broker: {stack.broker.bootstrap}   logs: {var_dir}/*.log")
        for service in SERVICES:
            typer.echo(f"{service:9} {stack.url(service)}/docs   (OpenAPI: {stack.url(service)}/openapi.json)")
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
