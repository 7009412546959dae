"""python -m services.scoring.hotline.cli import FILE [--format csv|jsonl] [--encoding auto|utf-8|gb18030]

Imports into the database of SCORING_DATABASE_URL in one transaction, with a progress bar
(bytes read, rows stored, elapsed and remaining time) on the terminal."""

from __future__ import annotations

import importlib
import json
import os
import re
import threading
from pathlib import Path
from typing import Literal

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn, TransferSpeedColumn

from services.scoring.hotline.parsing import COPY_CHUNK, DAY_COUNTS_HELD, ENCODINGS, MAX_REJECTIONS_LISTED, FileRefused, ParsedAhead, detect_encoding, parse_ahead_wanted

app = typer.Typer(add_completion=False, help="12345 hotline work orders 12345热线工单")


@app.callback()
def main() -> None:
    pass


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
    size = file.stat().st_size
    columns = (
        TextColumn("导入工单"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        TextColumn("{task.fields[rows]:,} 行"), TimeElapsedColumn(), TimeRemainingColumn(),
    )
    postgres = re.match(r"postgresql(\+\w+)?://", database_url)
    # The summary's schema (pydantic, a sixth of a second to import) loads
    # while the import runs, not after it.
    schemas = threading.Thread(target=importlib.import_module, args=("services.scoring.hotline.schemas",), daemon=True)
    schemas.start()
    with open(file, "rb") as stream, Progress(*columns, transient=True) as bar:
        codec = ENCODINGS[encoding] or detect_encoding(stream)
        parsed = None
        if postgres and parse_ahead_wanted(stream):
            # The parsing thread starts before this process connects: parsing goes on meanwhile.
            parsed = ParsedAhead(stream, file_format, codec, COPY_CHUNK, MAX_REJECTIONS_LISTED, time_order=True, totals_up_to=DAY_COUNTS_HELD)
        task = bar.add_task("import", total=size, rows=0)
        rows = 0

        def advance(chunk_rows: int) -> None:
            nonlocal rows
            rows += chunk_rows
            bar.update(task, completed=stream.tell(), rows=rows)

        try:
            if postgres:
                # Straight on psycopg: the service and its models (SQLAlchemy,
                # the web stack) take more than a second to import, while
                # Postgres would wait. One transaction: committed at the end
                # of the block, rolled back on any error.
                import psycopg

                from services.scoring.hotline.bulk import import_by_copy

                with psycopg.connect("postgresql://" + database_url[postgres.end():]) as connection:
                    summary = import_by_copy(connection, stream, file_format, codec, progress=advance, parsed=parsed)
            else:
                summary = _import_with_service(database_url, stream, file_format, codec, advance)
        except FileRefused as refused:
            typer.echo(json.dumps(refused.problem().body(), ensure_ascii=False), err=True)
            raise typer.Exit(1) from None
        finally:
            if parsed is not None:
                parsed.close()
    schemas.join()
    from services.scoring.hotline.schemas import summary_out

    typer.echo(json.dumps(summary_out(summary).model_dump(mode="json"), ensure_ascii=False, indent=1))


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


if __name__ == "__main__":
    app()
