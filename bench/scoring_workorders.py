"""Synthetic 12345 work orders for tests and the import benchmark.

    python bench/scoring_workorders.py OUT.csv --rows 1000000 [--format csv|jsonl] [--encoding utf-8|gb18030] [--seed 1]

Realistic shares: about 58% consultations (咨询), then help requests, complaints,
reports and suggestions; about 3% invalid, 4% merged duplicates, 6% returned
once and re-dispatched, 5% of complaints found unfounded. Department names mix
the full name (淄博市教育局) with the short one the platform often writes (市教育局).
Written row by row: memory stays flat whatever the size.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path

DEPARTMENTS = [
    "教育局", "民政局", "自然资源和规划局", "住房和城乡建设局", "卫生健康委", "市场监管局",
    "人力资源和社会保障局", "交通运输局", "生态环境局", "城市管理局", "公安局", "农业农村局",
    "文化和旅游局", "水利局", "医疗保障局", "应急管理局", "商务局", "退役军人事务局",
]
TYPES = [("咨询", 58), ("求助", 14), ("投诉", 18), ("举报", 4), ("意见建议", 6)]
CHANNELS = ["电话", "网站", "微信", "APP", "短信"]
SATISFACTION = ["满意", "基本满意", "不满意", ""]
COLUMNS = ["order_id", "received_at", "channel", "request_type", "dispatched_to", "returned_by", "final_department", "valid", "duplicate_of", "unfounded", "satisfaction"]


def full_name(short: str) -> str:
    return f"淄博市{short}"


def work_orders(rows: int, seed: int = 1, year: int = 2021) -> Iterator[dict]:
    rng = random.Random(seed)
    kinds = [k for k, w in TYPES for _ in range(w)]
    start = dt.datetime(year, 1, 1, 8, 0)
    for i in range(rows):
        kind = rng.choice(kinds)
        final = rng.choice(DEPARTMENTS)
        returned = ""
        dispatched = final
        if rng.random() < 0.06:
            first = rng.choice([d for d in DEPARTMENTS if d != final])
            dispatched = f"{full_name(first)}|{full_name(final)}"
            returned = full_name(first)
        else:
            dispatched = full_name(final)
        final_written = full_name(final) if rng.random() < 0.85 else f"市{final}"
        duplicate = f"GD{year}{rng.randrange(max(i, 1)):08d}" if i and rng.random() < 0.04 else ""
        yield {
            "order_id": f"GD{year}{i:08d}",
            "received_at": (start + dt.timedelta(seconds=i * 31_536_000 // max(rows, 1))).strftime("%Y-%m-%d %H:%M:%S"),
            "channel": rng.choice(CHANNELS),
            "request_type": kind,
            "dispatched_to": dispatched,
            "returned_by": returned,
            "final_department": final_written,
            "valid": "否" if rng.random() < 0.03 else "是",
            "duplicate_of": duplicate,
            "unfounded": "是" if kind in ("投诉", "举报") and rng.random() < 0.05 else "否",
            "satisfaction": rng.choice(SATISFACTION),
        }


def csv_bytes(rows: list[dict], encoding: str = "utf-8") -> bytes:
    """Work orders as a CSV file's bytes (for tests)."""
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def write(path: Path, rows: int, file_format: str = "csv", encoding: str = "utf-8", seed: int = 1) -> None:
    with open(path, "w", encoding=encoding, newline="") as out:
        if file_format == "csv":
            writer = csv.DictWriter(out, fieldnames=COLUMNS)
            writer.writeheader()
            for row in work_orders(rows, seed):
                writer.writerow(row)
        else:
            for row in work_orders(rows, seed):
                out.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_year(directory: Path, orders: int, files: int, year: int = 2021, seed: int = 1) -> list[Path]:
    """A year of `orders` work orders as `files` CSV files (one stretch of the
    year each, in time order), written fast: the rows' facts come from a pool
    of 50,000 rows drawn by `work_orders()` (the same shares), each with its
    own order id and time. A file already there with the right size marker is
    kept, so reruns reuse them."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    pool = [
        ",".join(row[c] for c in COLUMNS[2:]) for row in work_orders(50_000, seed=seed, year=year)
    ]
    days = [f"{dt.date(year, 1, 1) + dt.timedelta(days=d):%Y-%m-%d}" for d in range(366)]
    step = 31_536_000 / orders
    paths, per_file = [], -(-orders // files)
    for f in range(files):
        path = directory / f"orders-{year}-{f + 1:02d}-of-{files:02d}-{orders}.csv"
        paths.append(path)
        if path.exists():
            continue
        first, last = f * per_file, min(orders, (f + 1) * per_file)
        with open(path.with_suffix(".part"), "w", encoding="utf-8", newline="") as out:
            out.write(",".join(COLUMNS) + "\r\n")
            lines = []
            for i in range(first, last):
                day, second = divmod(int(i * step), 86_400)
                hour, second = divmod(second, 3600)
                lines.append(f"GD{year}{i:08d},{days[day]} {hour:02d}:{second // 60:02d}:{second % 60:02d},{pool[rng.randrange(50_000)]}\r\n")
                if len(lines) >= 100_000:
                    out.write("".join(lines))
                    lines = []
            out.write("".join(lines))
        path.with_suffix(".part").rename(path)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    parser.add_argument("--encoding", choices=["utf-8", "gb18030"], default="utf-8")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    write(args.out, args.rows, args.format, args.encoding, args.seed)
    print(f"wrote {args.rows} work orders to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
