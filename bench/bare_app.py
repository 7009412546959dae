"""The baseline: a bare FastAPI endpoint returning a small JSON body, nothing else."""

from fastapi import FastAPI

# FastAPI's OpenTelemetry bridge off, as in the services (shared/ops/service.py): the
# baseline must not pay for work the measured app skips.
app = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})


@app.get("/bare")
async def bare() -> dict[str, str]:
    return {"stage": "investigation", "next_deadline": "2021-10-10", "last_change": "2021-08-26T08:00:00Z"}
