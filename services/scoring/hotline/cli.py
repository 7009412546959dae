"""python -m services.scoring.hotline.cli import FILE [--format csv|jsonl] [--encoding auto|utf-8|gb18030]

Imports into the database of SCORING_DATABASE_URL in one transaction, with a progress bar
(bytes read, rows stored, elapsed and remaining time) on the terminal."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn, TransferSpeedColumn

from services.scoring.hotline.parsing import COPY_CHUNK, ENCODINGS, MAX_REJECTIONS_LISTED, chunks_in_worker, detect_encoding, worker_wanted

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
    with open(file, "rb") as stream, Progress(*columns, transient=True) as bar:
        codec = ENCODINGS[encoding] or detect_encoding(stream)
        parsed = None
        if database_url.startswith("postgresql") and worker_wanted(stream):
            # The parser process starts before this process loads the service
            # and its database code (about a second): parsing goes on meanwhile.
            try:
                parsed = chunks_in_worker(stream, file_format, codec, COPY_CHUNK, MAX_REJECTIONS_LISTED)
            except OSError:
                pass  # the service parses in this process
        # Not the endpoints module: the CLI has no use for the web stack it loads (a third of a second).
        from services.scoring.hotline.schemas import summary_out
        from services.scoring.hotline.service import import_work_orders
        from shared.db import Database
        from shared.web.problems import Problem

        task = bar.add_task("import", total=size, rows=0)
        rows = 0

        def advance(chunk_rows: int) -> None:
            nonlocal rows
            rows += chunk_rows
            bar.update(task, completed=stream.tell(), rows=rows)

        db = Database(database_url)
        try:
            with db.session() as session:
                summary = import_work_orders(session, stream, file_format, codec, progress=advance, parsed=parsed)
        except Problem as problem:
            typer.echo(json.dumps(problem.body(), ensure_ascii=False), err=True)
            raise typer.Exit(1) from None
        finally:
            if parsed is not None:
                parsed.close()
            db.dispose()
    typer.echo(json.dumps(summary_out(summary).model_dump(mode="json"), ensure_ascii=False, indent=1))


if __name__ == "__main__":
    app()
