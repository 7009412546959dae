"""The baseline: a bare FastAPI endpoint returning a small JSON body, nothing else."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/bare")
async def bare() -> dict[str, str]:
    return {"stage": "investigation", "next_deadline": "2021-10-10", "last_change": "2021-08-26T08:00:00Z"}
