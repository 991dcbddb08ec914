"""Translate the one settings vocabulary into each backend's parameters."""

from __future__ import annotations

import logging

from ortools.sat.python import cp_model

from models.settings import SolverSettings
from optimizer import stopping

log = logging.getLogger("vmo.solver")


# With only two workers CP-SAT's default portfolio spends one of them on plain
# search. On portfolio models up to a few hundred MMPs the LP-heavy worker plus
# the core-based bound worker prove optimality several times sooner; on larger
# ones, interleaving CP-SAT's whole portfolio (LNS included) in the two threads
# finds better plans within the limit (measured with bench/; see the README).
TWO_WORKER_SUBSOLVERS = ["max_lp", "core"]
LARGE_MODEL_STARTS = 2000  # start variables above which two workers interleave the full portfolio
# One worker (every solve of a study or a job, and CP-SAT's side of a two-thread race beside CBC) searches
# with the full LP relaxation from this many start variables: measured with `python -m bench one-thread`, it
# proves 130- to 310-start portfolios in 0.2 to 0.8 of the time (once 1.5 times slower) and leaves a gap about
# a fifteenth as large where neither proves optimality in 20 s.
# Below it the default proves in milliseconds, and level 2 was seen to crawl on one 12-MMP portfolio in cents
# (each solution one cent better than the last).
ONE_WORKER_FULL_LP_STARTS = 100


def cpsat_solver(
    settings: SolverSettings, time_left_s: float, optimizing: bool = True, starts: int = 0
) -> cp_model.CpSolver:
    """A CP-SAT solver honouring time limit, gap, seed and workers; its log goes to the logger."""
    solver = cp_model.CpSolver()
    params = solver.parameters
    params.max_time_in_seconds = max(time_left_s, 0.001)
    params.num_workers = settings.workers
    if optimizing and settings.workers == 1 and starts >= ONE_WORKER_FULL_LP_STARTS:
        params.linearization_level = 2
    if optimizing and settings.workers == 2:
        if starts > LARGE_MODEL_STARTS:
            params.interleave_search = True
        else:
            params.subsolvers.extend(TWO_WORKER_SUBSOLVERS)
    params.random_seed = settings.seed
    params.relative_gap_limit = settings.relative_gap
    if log.isEnabledFor(logging.DEBUG):
        params.log_search_progress = True
        params.log_to_stdout = False
        solver.log_callback = log.debug
    return solver


def solve_stoppable(
    solver: cp_model.CpSolver, model: cp_model.CpModel, signal: stopping.Signal | None = None
) -> cp_model.CpSolverStatus:
    """`solver.solve(model)`, ended early by `optimizer.stopping.request_stop()` (a cancelled job) or by
    `signal` (a race won by another solver)."""

    def stop() -> None:
        # stop_search only reaches a solve already under way; one about to start reads the time limit.
        solver.parameters.max_time_in_seconds = 0
        solver.stop_search()

    with stopping.stoppable(stop, signal):
        return solver.solve(model)
