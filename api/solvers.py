"""The API's solvers: the runtime's pool of solver processes behind an admission limit counted in solves.

Every solve runs in a solver process (OR-Tools never blocks the event loop, and a
stuck or crashing solve cannot take the web process down). A request is admitted
when the solves it needs fit beside those already admitted (pool + queue);
otherwise it is refused at once with 503 and Retry-After. A what-if with 50
scenarios is 51 solves, not one request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from starlette.requests import Request as HTTPRequest

from api.errors import ClientGone, ServerBusy, SolverCrashed, TooManySolves
from api.quotas import SolverMeter
from models import PortfolioError
from models.plan import Plan
from models.portfolio import Portfolio
from models.settings import SolverSettings
from optimizer.studies import Study, StudyTask
from runtime import SolverPool, SolverProcessDied, run_tasks_async

Request = TypeVar("Request")
Response = TypeVar("Response")
log = logging.getLogger("vmo.api")


class Solvers:
    def __init__(self, pool_size: int, queue_limit: int, meter: SolverMeter | None = None):
        self.pool_size = pool_size
        self.capacity = pool_size + queue_limit
        self.admitted = 0
        self.pool: SolverPool | None = None
        self.meter = meter or SolverMeter(float("inf"))

    def start(self) -> None:
        """Start the solver processes and wait for them, so the first request does not pay for their imports."""
        self.pool = SolverPool(self.pool_size)
        self.pool.wait_ready()

    def stop(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    @property
    def ready(self) -> bool:
        return self.pool is not None and self.pool.ready

    async def solve(
        self,
        portfolio: Portfolio,
        settings: SolverSettings,
        client: HTTPRequest | None = None,
        tenant: str | None = None,
    ) -> Plan:
        (plan,) = await self.run([StudyTask(portfolio.name, portfolio)], settings, client, tenant)
        return plan

    async def study(
        self,
        study: Study[Request, Response],
        request: Request,
        settings: SolverSettings,
        client: HTTPRequest | None = None,
        tenant: str | None = None,
    ) -> Response:
        """Plan the study's tasks (its checks run in a thread), solve them, and assemble the answer."""
        tasks = await asyncio.to_thread(study.tasks, request)
        plans = await self.run(tasks, settings, client, tenant)
        return study.assemble(request, plans)

    async def run(
        self,
        tasks: list[StudyTask],
        settings: SolverSettings,
        client: HTTPRequest | None = None,
        tenant: str | None = None,
    ) -> list[Plan]:
        """The tasks' plans. When `client` (the HTTP request) disconnects first, its solves are stopped and
        their admission is given back: nobody would read the answer. `tenant`'s solver seconds are metered
        (429 beyond its quota, api/quotas.py)."""
        assert self.pool is not None, "the solvers are not started"
        reserve = len(tasks) * settings.time_limit_s
        with self._admission(len(tasks)), self.meter.charged(tenant, reserve) as charge:
            work = asyncio.ensure_future(run_tasks_async(self.pool, tasks, settings))
            gone = asyncio.ensure_future(_disconnect(client)) if client is not None else None
            try:
                await asyncio.wait([f for f in (work, gone) if f is not None], return_when=asyncio.FIRST_COMPLETED)
                if not work.done():
                    log.info("the client went away: stopping its %d solve(s)", len(tasks))
                    work.cancel()  # run_tasks_async stops its solves when cancelled
                    await asyncio.wait([work])
                    raise ClientGone()
                plans = work.result()
                charge.seconds = sum(plan.solver.time_s for plan in plans)
                return plans
            except SolverProcessDied as exc:
                raise SolverCrashed(str(exc)) from None
            except (PortfolioError, ClientGone):
                raise
            except Exception:  # a solver that crashed (CBC killed by a signal, ...): a 503, never a 500
                log.exception("a solve failed")
                raise SolverCrashed("the solver failed on this request (the details are in the service log)") from None
            finally:
                if gone is not None:
                    gone.cancel()
                if not work.done():  # this request itself was cancelled (the server is stopping)
                    work.cancel()

    @contextmanager
    def _admission(self, solves: int) -> Iterator[None]:
        if solves > self.capacity:
            raise TooManySolves(solves, self.capacity)
        if self.admitted + solves > self.capacity:
            raise ServerBusy()
        self.admitted += solves
        try:
            yield
        finally:
            self.admitted -= solves


async def _disconnect(client: HTTPRequest) -> None:
    """Return when the client disconnects (the body has been read: only a disconnect can come)."""
    while (await client.receive())["type"] != "http.disconnect":
        pass
