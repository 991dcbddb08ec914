"""CBC as a second backend, fed from the same formulation as CP-SAT.

The formulation is written once, in `optimizer.formulation`; its CP-SAT model
holds only linear and at-most-one constraints over integer variables, which is
exactly a MILP. This module reads that model and states it to PuLP variable by
variable and row by row, so the two backends cannot drift apart.

PuLP writes the model (MPS) and the warm start (MST) and reads CBC's solution
back; this module starts the CBC binary bundled with PuLP itself, so that it
owns the process: a run that overruns its time limit, or whose job is
cancelled, is killed.
"""

from __future__ import annotations

import logging
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import pulp

from models.settings import SolverSettings
from optimizer import stopping
from optimizer.formulation import Formulation
from optimizer.milp import Column, Milp, milp

log = logging.getLogger("vmo.solver")

CBC_PATH = pulp.PULP_CBC_CMD.pulp_cbc_path  # the CBC binary bundled with PuLP
CBC_GRACE_S = 1.0  # past CBC's own time limit, this long (at most half its time) for it to end before it is killed
# CBC 2.10 is not started with less than this of its own time limit: given 0.01 s with a warm start it was seen
# to crash (SIGSEGV) on a 200-MMP model, and a run this short finds nothing a known plan does not.
CBC_MIN_LIMIT_S = 0.25
# Building and writing CBC's model (PuLP, then an MPS file) cannot be interrupted: about 90 to 210 us per start
# variable on a loaded machine (42,000 take 9 s). A CBC run given less time than that does not start.
BUILD_S_PER_START = 150e-6
# On models above this many start variables CBC stops its root cut loop after a few passes. Left to itself
# (20 passes, more while they gain) the loop did not end within 24 s on one thread on three of four generated
# 2,000 x 4 x 100 portfolios, and the plan stayed the feasibility pump's from second 5; cut short, the root
# ends in 7 to 10 s and the diving heuristics at its end run. Gap after 24 s on nine generated portfolios of
# 1,500 to 3,000 MMPs: 2.19 % on average against 1.53 % (better on five, worse on two: README, Scale).
# Below, the root ends within a few seconds either way.
SHORT_ROOT_STARTS = 4000
SHORT_ROOT_CUT_PASSES = 5
# Above this many start variables CBC runs proximity search (Fischetti & Monaci: a sub-MIP that looks for a
# better plan a few flips away from the incumbent) at the root, where on such models its plans come from the
# root's heuristics and little after. On twelve runs (500 to 2,000 MMPs, one and two threads, 30 s) the mean
# gap went from 0.643 % to 0.606 %: better on five, worse on two, level on five (README, Scale). Below it CBC
# proves or races CP-SAT, and this is left alone.
PROXIMITY_STARTS = 1000


@dataclass
class MilpResult:
    status: str  # optimal, feasible, infeasible, no_solution_in_time
    values: dict[int, int]  # CP-SAT variable index -> value
    bound: float | None = None  # best bound on the model's (maximised) objective, from CBC's log


def to_pulp(f: Formulation) -> tuple[pulp.LpProblem, list[pulp.LpVariable], Milp]:
    """State the formulation's model, as the scaled MILP of `optimizer.milp`, as a PuLP minimisation."""
    m = milp(f)
    problem = pulp.LpProblem("vmo", pulp.LpMinimize)
    variables = [
        problem.add_variable(f"v{i}", lowBound=c.lo, upBound=c.hi, cat=_category(c)) for i, c in enumerate(m.columns)
    ]
    # Expressions from (variable, coefficient) lists, not `lpSum(a * x)`: no expression per term (2.5 times
    # faster on 2,000 x 4 x 100; the MPS file written is the same).
    for n, row in enumerate(m.rows):
        terms = [(variables[c], a) for c, a in row.terms]
        if row.lo is not None and row.lo == row.hi:
            problem.addConstraint(_constraint(terms, pulp.LpConstraintEQ, row.lo), f"c{n}")
            continue
        if row.lo is not None:
            problem.addConstraint(_constraint(terms, pulp.LpConstraintGE, row.lo), f"c{n}_lo")
        if row.hi is not None:
            problem.addConstraint(_constraint(terms, pulp.LpConstraintLE, row.hi), f"c{n}_hi")
    problem += pulp.LpAffineExpression([(variables[c], a) for c, a in m.objective])  # offset: added to the bound
    return problem, variables, m


def _constraint(terms: list[tuple[pulp.LpVariable, float]], sense: int, rhs: float) -> pulp.LpConstraint:
    return pulp.LpConstraint(pulp.LpAffineExpression(terms), sense, rhs=rhs)


def _category(column: Column) -> str:
    if not column.integer:
        return pulp.LpContinuous
    return pulp.LpBinary if (column.lo, column.hi) == (0, 1) else pulp.LpInteger


def cbc_command(settings: SolverSettings, starts: int = 0) -> pulp.COIN_CMD:
    """The settings vocabulary in PuLP's CBC terms, for a model of `starts` start variables. The object is
    never run: it supplies CBC's options and PuLP's writer of the warm-start file and reader of the solution file."""
    options = [f"randomCbcSeed {settings.seed}"] if settings.seed else []
    if starts > SHORT_ROOT_STARTS:
        options.append(f"passCuts {SHORT_ROOT_CUT_PASSES}")
    if starts > PROXIMITY_STARTS:
        options.append("proximity on")
    # One worker runs CBC's serial search: given `-threads 1`, CBC 2.10.3 searches in a worker thread and,
    # now and then, deadlocks when the tree is done (the main thread joins a worker that waits to be woken:
    # 13 of 300 solves of a 20-MMP portfolio hung until killed; none of 300 without `-threads`).
    threads = settings.workers if settings.workers > 1 else None
    # COIN_CMD, not PULP_CBC_CMD: the same binary, without PuLP 3's deprecation warning (pinned to < 4).
    return pulp.COIN_CMD(
        path=CBC_PATH, msg=False, gapRel=settings.relative_gap or None, threads=threads, options=options
    )


class _Files(NamedTuple):
    """The files of one CBC run."""

    model: Path
    warm_start: Path
    solution: Path
    log: Path

    @classmethod
    def inside(cls, folder: Path) -> _Files:
        return cls(folder / "model.mps", folder / "start.mst", folder / "solution.sol", folder / "cbc.log")


PLAIN_SEARCH = ["-preprocess", "off", "-cuts", "off"]
"""CBC's options for a search without its preprocessing and cut generators."""

PLAN_SEARCH = ["-depthMiniBab", "-999"]
"""CBC's options for a search that puts plans before a quick proof: without the fast depth-first search that CBC's
serial search switches to on small models (rows and columns under 500), which completes subtrees but runs none
of the heuristics that find plans. A search that completes still proves its plan. Measured on OR-Library
knapsacks, one thread: on 100-item cores at 6.5 s the mean gap to best-known fell from 0.118 % to 0.035 % on
the five instances `bench mkp` solves this way, and was better on eleven of twelve others (equal on one); on
nine whole 10 x 100 knapsacks at 10 s (`bench mkp --files 4`) from 0.059 % to 0, with as many proofs (3),
while proofs of nine 5 x 100 ones took 4.6 s instead of 3.3 s on average."""

SearchMode = Literal["usual", "plain", "plans"]
_OPTIONS: dict[SearchMode, list[str]] = {"usual": [], "plain": PLAIN_SEARCH, "plans": PLAN_SEARCH}

_STATUS = {  # PuLP's solution status (not its solver status): a time-limited plan is feasible
    pulp.LpSolutionOptimal: "optimal",
    pulp.LpSolutionIntegerFeasible: "feasible",
    pulp.LpSolutionInfeasible: "infeasible",
    pulp.LpSolutionNoSolutionFound: "no_solution_in_time",
}


def solve_cbc(
    f: Formulation,
    settings: SolverSettings,
    time_left_s: float,
    hint: dict[int, int],
    signal: stopping.Signal | None = None,
    search: SearchMode = "usual",
) -> MilpResult:
    """Solve with CBC; status from the solution status (not the solver status), bound from CBC's log.
    `search`: "plain" turns CBC's preprocessing and cut generators off (see `solve_cbc_plain`), "plans" puts
    plans before a quick proof (see `solve_cbc_for_plans`).

    CBC checks its time limit only between phases and can overrun it badly on large models, so the
    run is watched: past the limit plus a grace period the CBC process is killed and the result is
    `no_solution_in_time` (the caller falls back to the ranking's plan). A stop kills it at once."""
    deadline = time.monotonic() + time_left_s
    if time_left_s < build_time_s(f):  # building its model alone would take CBC past the limit
        log.info("CBC not run: building its model would take longer than the %.2f s left", time_left_s)
        return MilpResult("no_solution_in_time", {})
    problem, variables, m = to_pulp(f)
    for index, value in hint.items():
        variables[index].setInitialValue(m.mip_value(index, value))
    command = cbc_command(settings, len(f.x))
    with tempfile.TemporaryDirectory(prefix="vmo-cbc-") as tmp:
        files = _Files.inside(Path(tmp))
        names = _write(problem, command, files, warm_start=bool(hint))
        # CBC's own limit leaves a grace period for reading its answer back inside ours (half the time, when short).
        left = deadline - time.monotonic()
        time_limit_s = left - min(CBC_GRACE_S, left / 2)
        if time_limit_s < CBC_MIN_LIMIT_S:  # building and writing the model took (nearly) all of CBC's time
            log.info("CBC not run: %.2f s of search left", max(time_limit_s, 0.0))
            return MilpResult("no_solution_in_time", {})
        arguments = _arguments(command, files, time_limit_s, warm_start=bool(hint), search=search)
        try:
            if not _run_watched(lambda: _run_cbc(arguments, files.log), deadline - time.monotonic(), signal):
                return MilpResult("no_solution_in_time", {})
        except pulp.PulpSolverError:  # CBC crashed (it can, on odd inputs): the caller answers with its floor
            log.exception("CBC failed; the plan falls back to the best floor")
            return MilpResult("no_solution_in_time", {})
        log_text = files.log.read_text(errors="replace")
        log.debug("%s", log_text)
        solution_status, values = _read(problem, command, files, names)
    status = _STATUS.get(solution_status)
    if status is None:  # unbounded: the formulation bounds every variable, so this is a bug
        raise RuntimeError(f"CBC returned solution status {solution_status}")
    found = {}
    if status in ("optimal", "feasible"):
        found = {i: m.model_value(i, values.get(v.name, 0) or 0) for i, v in enumerate(variables)}
    lower = _lower_bound(log_text)
    return MilpResult(status, found, None if lower is None else m.model_bound(lower + m.offset))


def solve_cbc_plain(
    f: Formulation,
    settings: SolverSettings,
    time_left_s: float,
    hint: dict[int, int],
    signal: stopping.Signal | None = None,
) -> MilpResult:
    """CBC by branch and bound alone. CBC 2.10's cut generators can call a feasible model infeasible
    ("Cut generators found to be infeasible", seen on a goal-2 model its own warm start satisfies): where a
    plan is known to keep every rule, the caller asks again this way."""
    return solve_cbc(f, settings, time_left_s, hint, signal, search="plain")


def solve_cbc_for_plans(
    f: Formulation,
    settings: SolverSettings,
    time_left_s: float,
    hint: dict[int, int],
    signal: stopping.Signal | None = None,
) -> MilpResult:
    """CBC where plans count before a quick proof (`PLAN_SEARCH`): on a core problem (`optimizer.core`), whose
    bound bounds nothing, and on a knapsack small enough to be its own core, which is rarely proven in seconds."""
    return solve_cbc(f, settings, time_left_s, hint, signal, search="plans")


def build_time_s(f: Formulation) -> float:
    """About how long building and writing CBC's model of `f` takes."""
    return BUILD_S_PER_START * len(f.x)


def _write(problem: pulp.LpProblem, command: pulp.COIN_CMD, files: _Files, warm_start: bool) -> tuple:
    """Write the model (and the variables' initial values as the warm start) the way PuLP does for CBC.
    Returns the variables and the names the files use for them, for reading the solution back."""
    problem.fixObjective()  # as LpProblem.solve does: a constant objective gets a dummy variable
    variables, variable_names, constraint_names, _ = problem.writeMPS(str(files.model), rename=1)
    names = (variables, variable_names, constraint_names)
    if warm_start:
        command.writesol(str(files.warm_start), problem, *names)
    return names


def _arguments(
    command: pulp.COIN_CMD, files: _Files, time_limit_s: float, warm_start: bool, search: SearchMode = "usual"
) -> list[str]:
    """CBC's command line, as PuLP's COIN_CMD builds it (the problem is a minimisation)."""
    arguments = [command.path, str(files.model)]
    if warm_start:
        arguments += ["-mips", str(files.warm_start)]
    arguments += ["-sec", str(time_limit_s)]
    for option in command.options + command.getOptions():  # seed, gap, threads, wall-clock time
        arguments += f"-{option}".split()
    return [*arguments, *_OPTIONS[search], "-solve", "-printingOptions", "all", "-solution", str(files.solution)]


def _run_cbc(arguments: list[str], log_path: Path) -> None:
    """Run CBC to its end, its output in `log_path`; raise when it fails."""
    with log_path.open("w") as output:
        process = _CbcProcess(arguments, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            process.wait()
        finally:
            process.kill()  # nothing once CBC has ended; never leave it running behind an error
            process.wait()
    if process.returncode != 0:
        tail = log_path.read_text(errors="replace")[-2000:]
        raise pulp.PulpSolverError(f"CBC ended with exit code {process.returncode}:\n{tail}")


def _read(problem: pulp.LpProblem, command: pulp.COIN_CMD, files: _Files, names: tuple) -> tuple[int, dict]:
    """PuLP's solution status and the values by variable name, from CBC's solution file."""
    if not files.solution.exists():
        raise pulp.PulpSolverError("CBC wrote no solution file")
    status, values, *_duals, solution_status = command.readsol_MPS(str(files.solution), problem, *names)
    if status == pulp.LpStatusInfeasible:  # "pre-processing says infeasible" comes with no solution status
        return pulp.LpSolutionInfeasible, values
    return solution_status, values


# ---------------------------------------------------------------- the watched CBC process


class _Watch:
    """The CBC process of one run and whether the run was killed. A kill that comes before the
    process exists kills it as soon as it starts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self.killed = False

    def started(self, process: subprocess.Popen) -> None:
        with self._lock:
            self._process = process
            killed = self.killed
        if killed:
            process.kill()

    def kill(self) -> None:
        with self._lock:
            self.killed = True
            process = self._process
        if process is not None:
            process.kill()

    def overrun(self) -> None:
        log.warning("CBC overran its time limit; stopping it")
        self.kill()


_watching = threading.local()  # .watch: the watch of the run in progress in this thread


class _CbcProcess(subprocess.Popen):
    """A CBC process: started inside `_run_watched`, it reports to that run's watch."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        watch = getattr(_watching, "watch", None)
        if watch is not None:
            watch.started(self)


def _run_watched(run: Callable[[], None], limit_s: float, signal: stopping.Signal | None = None) -> bool:
    """Call `run` (which starts CBC as a `_CbcProcess` and waits for it) in this thread; kill that
    process on a stop or past `limit_s`. True when it finished in time and was not stopped."""
    watch = _Watch()
    with stopping.stoppable(watch.kill, signal):
        if watch.killed:  # stopped before CBC started: it never runs
            return False
        timer = threading.Timer(max(limit_s, 0.1), watch.overrun)
        timer.daemon = True
        timer.start()
        _watching.watch = watch
        try:
            run()
        except Exception:
            if not watch.killed:  # CBC failed on its own; a killed CBC ends with an error as expected
                raise
        finally:
            _watching.watch = None
            timer.cancel()
    return not watch.killed


_LOWER_BOUND = re.compile(r"^Lower bound:\s+(-?[0-9.eE+-]+)", re.MULTILINE)


def _lower_bound(text: str) -> float | None:
    """The bound on the minimised objective (without its constant) that CBC logs when it stops early."""
    match = _LOWER_BOUND.search(text)
    return None if match is None else float(match.group(1))
