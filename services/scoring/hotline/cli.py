"""python -m services.scoring.hotline.cli import FILE [--format csv|jsonl] [--encoding auto|utf-8|gb18030]

Imports into the database of SCORING_DATABASE_URL in one transaction, with a progress bar
(bytes read, rows stored, elapsed and remaining time) on the terminal."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
import threading
from pathlib import Path
from typing import Literal

import typer

from services.scoring.hotline.parsing import (
    COPY_CHUNK,
    DAY_COUNTS_HELD,
    ENCODINGS,
    MAX_REJECTIONS_LISTED,
    FileRefused,
    ParsedAhead,
    detect_encoding,
    parse_ahead_wanted,
)

app = typer.Typer(add_completion=False, help="12345 hotline work orders 12345热线工单")


@app.callback()
def main() -> None:
    pass


class ImportProgress:
    """The progress bar (bytes read, rows stored, elapsed and remaining time),
    made by a thread of its own once the first rows are stored: rich takes a
    twentieth of a second to import, and the first COPY does not wait for it."""

    def __init__(self, stream, size: int) -> None:
        self.stream, self.size, self.rows = stream, size, 0
        self.bar = self.task = self.thread = None
        self.lock = threading.Lock()

    def _show(self) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        bar = Progress(
            TextColumn("导入工单"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
            TextColumn("{task.fields[rows]:,} 行"), TimeElapsedColumn(), TimeRemainingColumn(), transient=True,
        )
        with self.lock:
            self.task = bar.add_task("import", total=self.size, completed=self.stream.tell(), rows=self.rows)
            bar.start()
            self.bar = bar

    def advance(self, rows: int) -> None:
        with self.lock:
            self.rows += rows
            if self.thread is None:
                self.thread = threading.Thread(target=self._show, name="import-progress", daemon=True)
                self.thread.start()
            elif self.bar is not None:
                self.bar.update(self.task, completed=self.stream.tell(), rows=self.rows)

    def close(self) -> None:
        if self.thread is not None:
            self.thread.join()
        if self.bar is not None:
            self.bar.stop()


@app.command("import")
def import_file(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    format: str = typer.Option("", help="csv or jsonl (default: from the file's suffix)"),
    encoding: str = typer.Option("auto", help="auto, utf-8 or gb18030"),
    database_url: str = typer.Option("", help="default: SCORING_DATABASE_URL"),
) -> None:
    file_format: Literal["csv", "jsonl"] = (format or ("jsonl" if file.suffix in (".jsonl", ".ndjson", ".json") else "csv"))  # type: ignore[assignment]
    if file_format not in ("csv", "jsonl") or encoding not in ENCODINGS:
        raise typer.BadParameter("format must be csv or jsonl; encoding auto, utf-8 or gb18030")
    if not database_url and not os.environ.get("SCORING_DATABASE_URL"):
        from services.scoring.settings import ScoringSettings

        database_url = ScoringSettings().database_url
    database_url = database_url or os.environ["SCORING_DATABASE_URL"]
    postgres = re.match(r"postgresql(\+\w+)?://", database_url)
    with open(file, "rb") as stream:
        codec = ENCODINGS[encoding] or detect_encoding(stream)
        progress = ImportProgress(stream, file.stat().st_size)
        parsed = None
        try:
            if postgres:
                # Straight on psycopg: the service and its models (SQLAlchemy,
                # the web stack) take more than a second to import, while
                # Postgres would wait. psycopg loads before the parsing thread
                # starts (both imports hold the interpreter, and Postgres waits
                # for this one); the thread starts before this process
                # connects. One transaction: committed at the end of the
                # block, rolled back on any error.
                import psycopg

                from services.scoring.hotline.bulk import import_by_copy

                if parse_ahead_wanted(stream):
                    parsed = ParsedAhead(stream, file_format, codec, COPY_CHUNK, MAX_REJECTIONS_LISTED, time_order=True, totals_up_to=DAY_COUNTS_HELD)
                with psycopg.connect("postgresql://" + database_url[postgres.end():]) as connection:
                    summary = import_by_copy(connection, stream, file_format, codec, progress=progress.advance, parsed=parsed)
            else:
                summary = _import_with_service(database_url, stream, file_format, codec, progress.advance)
        except FileRefused as refused:
            typer.echo(json.dumps(refused.problem().body(), ensure_ascii=False), err=True)
            raise typer.Exit(1) from None
        finally:
            if parsed is not None:
                parsed.close()
            progress.close()
    # The summary as the endpoint answers it (`schemas.ImportSummaryOut`, the
    # same fields in the same order; a test holds them alike), without
    # pydantic: with shared.web it cost the CLI half a second of CPU to import,
    # for one line of output.
    typer.echo(json.dumps(dataclasses.asdict(summary), ensure_ascii=False, indent=1))


def _import_with_service(database_url: str, stream, file_format, codec: str, advance):
    from services.scoring.hotline.service import import_work_orders
    from shared.db import Database
    from shared.web.problems import Problem

    db = Database(database_url)
    try:
        with db.session() as session:
            return import_work_orders(session, stream, file_format, codec, progress=advance)
    except Problem as problem:
        typer.echo(json.dumps(problem.body(), ensure_ascii=False), err=True)
        raise typer.Exit(1) from None
    finally:
        db.dispose()


def run_and_exit() -> None:
    """Runs the CLI, then ends the process without the interpreter's teardown:
    unloading pyarrow and psycopg took 0.08-0.09 s after the import
    was committed and its summary written. Everything is closed by then (the
    connection and the file by their blocks, the threads joined); the output
    is flushed here."""
    try:
        app()
        code = 0
    except SystemExit as done:
        if isinstance(done.code, str):
            print(done.code, file=sys.stderr)
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run_and_exit()
