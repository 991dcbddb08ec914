"""CBC (through PuLP) as a second backend, fed from the same formulation as CP-SAT.

The formulation is written once, in `optimizer.formulation`; its CP-SAT model
holds only linear and at-most-one constraints over integer variables, which is
exactly a MILP. This module reads that model and states it to PuLP variable by
variable and row by row, so the two backends cannot drift apart.
"""

from __future__ import annotations

import logging
import re
import subprocess
import tempfile
import threading
import time
import types
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pulp
from pulp.apis import coin_api

from models.settings import SolverSettings
from optimizer import stopping
from optimizer.formulation import Formulation

log = logging.getLogger("vmo.solver")

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


@dataclass
class MilpResult:
    status: str  # optimal, feasible, infeasible, no_solution_in_time
    values: dict[int, int]  # CP-SAT variable index -> value
    bound: float | None = None  # best bound on the model's (maximised) objective, from CBC's log


def to_pulp(f: Formulation) -> tuple[pulp.LpProblem, list[pulp.LpVariable]]:
    """State the formulation's model as a PuLP minimisation problem."""
    proto = f.model.proto
    problem = pulp.LpProblem("vmo", pulp.LpMinimize)
    variables = [_variable(problem, i, v) for i, v in enumerate(proto.variables)]

    def literal(ref: int):
        return variables[ref] if ref >= 0 else 1 - variables[-ref - 1]

    for n, ct in enumerate(proto.constraints):
        if len(ct.enforcement_literal):
            raise ValueError("enforcement literals (explain mode) have no MILP translation")
        if ct.has_linear():
            expr = pulp.lpSum(c * literal(v) for v, c in zip(ct.linear.vars, ct.linear.coeffs))
            _bounded(problem, expr, list(ct.linear.domain), f"c{n}")
        elif ct.has_at_most_one():
            problem += pulp.lpSum(literal(r) for r in ct.at_most_one.literals) <= 1, f"c{n}"
        elif ct.has_bool_or():  # CP-SAT states a constant-true constraint this way
            problem += pulp.lpSum(literal(r) for r in ct.bool_or.literals) >= 1, f"c{n}"
        else:
            raise ValueError(f"constraint {n} has no MILP translation")
    obj = proto.objective
    problem += pulp.lpSum(c * literal(v) for v, c in zip(obj.vars, obj.coeffs))
    return problem, variables


def _variable(problem: pulp.LpProblem, i: int, v) -> pulp.LpVariable:
    domain = list(v.domain)
    lo, hi = domain[0], domain[-1]
    if len(domain) != 2:
        raise ValueError(f"variable {v.name} has a domain with holes")
    cat = pulp.LpBinary if (lo, hi) == (0, 1) else pulp.LpInteger
    return problem.add_variable(f"v{i}", lowBound=lo, upBound=hi, cat=cat)


def _bounded(problem: pulp.LpProblem, expr, domain: list[int], name: str) -> None:
    if len(domain) != 2:
        raise ValueError(f"constraint {name} has a domain with holes")
    lo, hi = domain
    if lo == hi:
        problem += expr == lo, name
        return
    if lo > INT64_MIN:
        problem += expr >= lo, f"{name}_lo"
    if hi < INT64_MAX:
        problem += expr <= hi, f"{name}_hi"


def cbc_command(settings: SolverSettings, time_left_s: float, warm_start: bool, log_path: str) -> pulp.PULP_CBC_CMD:
    """Translate the settings vocabulary into CBC's options."""
    options = [f"randomCbcSeed {settings.seed}"] if settings.seed else []
    with warnings.catch_warnings():  # PuLP 3 deprecates the bundled CBC for 4.0; pinned to < 4
        warnings.simplefilter("ignore", DeprecationWarning)
        return pulp.PULP_CBC_CMD(
            msg=log.isEnabledFor(logging.DEBUG),
            timeLimit=max(time_left_s, 0.01),
            gapRel=settings.relative_gap or None,
            threads=settings.workers,
            warmStart=warm_start,
            logPath=log_path,
            options=options,
        )


def solve_cbc(f: Formulation, settings: SolverSettings, time_left_s: float, hint: dict[int, int]) -> MilpResult:
    """Solve with CBC; status from PuLP's solution status (not its solver status), bound from CBC's log.

    CBC checks its time limit only between phases and can overrun it badly on large models, so the
    run is watched: past the limit plus a grace period the CBC process is stopped and the result is
    `no_solution_in_time` (the caller falls back to the ranking's plan)."""
    deadline = time.monotonic() + time_left_s
    problem, variables = to_pulp(f)
    for index, value in hint.items():
        variables[index].setInitialValue(value)
    with tempfile.TemporaryDirectory(prefix="vmo-cbc-") as tmp:
        log_path = str(Path(tmp) / "cbc.log")
        # CBC's own limit leaves a grace period for reading its answer back inside ours.
        command = cbc_command(settings, deadline - time.monotonic() - CBC_GRACE_S, bool(hint), log_path)
        if not _run_watched(lambda: problem.solve(command), deadline - time.monotonic()):
            return MilpResult("no_solution_in_time", {})
        log_text = Path(log_path).read_text(errors="replace") if Path(log_path).exists() else ""
    log.debug("%s", log_text)
    status = {
        pulp.LpSolutionOptimal: "optimal",
        pulp.LpSolutionIntegerFeasible: "feasible",
        pulp.LpSolutionInfeasible: "infeasible",
        pulp.LpSolutionNoSolutionFound: "no_solution_in_time",
    }.get(problem.sol_status)
    if status is None:  # unbounded: the formulation bounds every variable, so this is a bug
        raise RuntimeError(f"CBC returned solution status {problem.sol_status}")
    values = {}
    if status in ("optimal", "feasible"):
        values = {i: round(v.value() or 0) for i, v in enumerate(variables)}
    return MilpResult(status, values, _bound_from_log(log_text, f.model.proto.objective))


CBC_GRACE_S = 1.0


def _run_watched(solve, limit_s: float) -> bool:
    """Run `solve` in a thread; stop its CBC process past `limit_s`. True when it finished in time."""
    outcome: dict[str, BaseException] = {}

    def target() -> None:
        try:
            solve()
        except BaseException as exc:  # re-raised below unless we stopped CBC ourselves
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="cbc", daemon=True)
    stopped = threading.Event()

    def kill() -> None:
        process = _CbcProcess.started.get(thread.ident)
        if process is not None:
            process.kill()

    def stop() -> None:  # a cancelled job: stop CBC now
        stopped.set()
        kill()

    with stopping.while_running(stop):
        if stopped.is_set():  # stopped before CBC started
            return False
        thread.start()
        deadline = time.monotonic() + max(limit_s, 0.1)
        while thread.is_alive() and not stopped.is_set() and time.monotonic() < deadline:
            thread.join(min(0.1, max(deadline - time.monotonic(), 0)))
        if thread.is_alive() or stopped.is_set():
            if not stopped.is_set():
                log.warning("CBC overran its time limit; stopping it")
            while thread.is_alive():  # a stop can come before the thread has started CBC: kill until it ends
                kill()
                thread.join(0.1)
            return False
    if "error" in outcome:
        raise outcome["error"]
    return True


class _CbcProcess(subprocess.Popen):
    """PuLP starts CBC with `subprocess.Popen` from its coin_api module; this subclass remembers
    the process per thread so an overrunning run can be stopped."""

    started: ClassVar[dict[int, subprocess.Popen]] = {}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _CbcProcess.started[threading.get_ident()] = self


class _SubprocessModule(types.ModuleType):
    """`subprocess` as PuLP's CBC runner sees it: the real module, with a tracked Popen."""

    Popen = _CbcProcess

    def __getattr__(self, name: str):
        return getattr(subprocess, name)


coin_api.subprocess = _SubprocessModule("subprocess")


_LOWER_BOUND = re.compile(r"^Lower bound:\s+(-?[0-9.eE+-]+)", re.MULTILINE)


def _bound_from_log(text: str, objective) -> float | None:
    """CBC minimises the model's inner objective; CP-SAT's true objective is scaling * (inner + offset)."""
    match = _LOWER_BOUND.search(text)
    if not match:
        return None
    inner = float(match.group(1)) + objective.offset
    return objective.scaling_factor * inner if objective.scaling_factor else inner
