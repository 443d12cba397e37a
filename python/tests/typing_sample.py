"""Type-checked by python/test.sh (mypy --strict): how an application sees the API."""

import asyncio

import wafermon
import wafermon.logging


def main() -> None:
    wafermon.init({"app": {"name": "x"}})
    with wafermon.job("etch", key="LOT42", attrs={"tool": "E1", "n": 3}) as job:
        job.progress(50, "half")
        job.metric("p", 1.5)
        job.log("warning", "slow")
        with job.subjob("w") as w:
            w.finish()
        ref: wafermon.JobRef = job.ref()
        print(ref.id)
    cur = wafermon.current_job()
    if cur is not None:
        print(cur.id)
    ok: bool = wafermon.flush(timeout=1.0)
    stats = wafermon.stats()
    print(ok, stats["emitted"])


@wafermon.monitored("m")
def f(x: int) -> int:
    return x


@wafermon.monitored
async def g(x: int) -> int:
    async with wafermon.job("a") as j:
        j.heartbeat()
    return x


y: int = f(3)
z: int = asyncio.run(g(1))
