"""`solve_uncertain`: the decision over every scenario of an uncertain portfolio (docs/design.md, section 4.7).

In order, inside the one time limit:

1. the scenarios are expanded (explicit scenarios times samples of the value ranges) and priced in one money
   unit;
2. floors: the WSJF ranking's plan made for the worst figures of every scenario, and the warm start, each
   kept when it holds in every scenario;
3. every scenario's own optimum (wait and see): the robustness of each MMP, the value of information, further
   floors for a single plan, and, for the decision `per_scenario`, the decision itself;
4. the single plan that scores best by the risk measure (for `priority`, a first stage and its floor);
5. for `priority`, the ranked list whose prefixes the scenarios fund.

Whatever chose the starts, every decision is priced exactly in every scenario (the least money that pays for
it, its value in exact decimals) and scored exactly by the risk measure; the plan's rows show the first
scenario with the portfolio's own values.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from fractions import Fraction

from ortools.sat.python import cp_model

from models.checks import PortfolioError, Problem
from models.plan import Explanation, Floor, Plan, SolverInfo, SolverStatus
from models.portfolio import Portfolio
from models.settings import SolverSettings
from optimizer import stopping
from optimizer.backends import cpsat_solver, solve_stoppable
from optimizer.explain import binding_constraints, not_selected_reasons
from optimizer.formulation import Formulation, build, value_expression
from optimizer.greedy import GreedyState, greedy_plan, replay
from optimizer.infeasibility import explain_infeasibility, precheck
from optimizer.instance import build_instance
from optimizer.report import assemble_plan, baseline, relative_gap, value_split
from optimizer.uncertain import measures, summary
from optimizer.uncertain.cautious import cautious_portfolio
from optimizer.uncertain.joint import Joint, fits_int64, joint_model
from optimizer.uncertain.search import Decision, JointSearch, search
from optimizer.uncertain.summary import amount
from optimizer.uncertain.worlds import World, Worlds, distances, expand

RANKING_SHARE = 0.1  # of the time limit, for the WSJF ranking's plan
SINGLE_SHARE = {"plan": 0.7, "priority": 0.5, "per_scenario": 0.3}  # of what is left, for the best single plan
OWN_SHARE = {"plan": 1.0, "priority": 0.3, "per_scenario": 1.0}  # of what is left then, for the own optima
RESERVE_S = 0.05  # for pricing, the explanation and the validator; and per scenario and MMP:
RESERVE_PER_TERM_S = 0.0002
MIN_SEARCH_S = 0.05  # a joint search given less than this is not started
BUILD_S_PER_TERM = 0.00005  # about what building a joint model takes per scenario and MMP (generous)


@dataclass(frozen=True)
class Priced:
    """A decision priced exactly in every scenario and scored by the risk measure."""

    starts: Decision
    values: list[Fraction]  # per scenario, in currency
    score: Fraction  # the risk measure, in currency

    def distribution(self, worlds: Worlds) -> measures.Distribution:
        return [(w.probability, v) for w, v in zip(worlds.worlds, self.values)]


@dataclass(frozen=True)
class OwnOptimum:
    starts: dict[int, int]
    value: Fraction  # in currency
    bound: Fraction | None  # on the scenario's value, in currency
    proven: bool


class Pricer:
    """Prices decisions: the least money for a scenario's starts (once per explicit scenario and set of starts),
    its exact value, and the risk measure over all scenarios."""

    def __init__(self, portfolio: Portfolio, worlds: Worlds, dist: list[list[Fraction]] | None):
        self.portfolio, self.worlds, self.dist = portfolio, worlds, dist
        self._states: dict[tuple[int, frozenset], GreedyState | None] = {}

    def state(self, w: World, starts: dict[int, int]) -> GreedyState | None:
        """The least money that pays for `starts` in scenario `w`, or None when they break one of its rules."""
        key = (w.rules, frozenset(starts.items()))
        if key not in self._states:
            self._states[key] = replay(w.inst, starts)
        return self._states[key]

    def value(self, w: World, starts: dict[int, int]) -> Fraction:
        by_id = {w.inst.mmps[i].id: s for i, s in starts.items()}
        return Fraction(value_split(w.explicit, by_id, w.sampled).total)

    def priced(self, decision: Decision) -> Priced | None:
        """The decision priced in every scenario; None when it breaks a rule in one of them."""
        values = []
        for w, starts in zip(self.worlds.worlds, decision, strict=True):
            if self.state(w, starts) is None:
                return None
            values.append(self.value(w, starts))
        dist = [(w.probability, v) for w, v in zip(self.worlds.worlds, values)]
        return Priced(decision, values, measures.score(self.portfolio.risk, dist, self.dist))

    def shared(self, starts: dict[int, int]) -> Priced | None:
        """One plan in every scenario."""
        return self.priced([starts] * len(self.worlds.worlds))


def solve_uncertain(
    portfolio: Portfolio, settings: SolverSettings, warm_start: dict[str, str] | None, started: float
) -> Plan:
    """The decision of `portfolio.decision` over every scenario, scored by `portfolio.risk`."""
    worlds = expand(portfolio, settings)
    dist = distances(portfolio, worlds) if portfolio.risk.measure == "wasserstein" else None
    run = _Run(portfolio, settings, worlds, Pricer(portfolio, worlds, dist), started)
    return run.solve(warm_start)


class _Run:
    """One uncertain solve: its scenarios, clock and findings."""

    def __init__(self, portfolio: Portfolio, settings: SolverSettings, worlds: Worlds, pricer: Pricer, started: float):
        self.p, self.settings, self.worlds, self.pricer = portfolio, settings, worlds, pricer
        self.started = started
        self.deadline = started + settings.time_limit_s
        self.reference = build_instance(worlds.reference, worlds.money_resolution)
        terms = len(worlds.worlds) * len(portfolio.mmps)
        self.reserve = min(RESERVE_S + RESERVE_PER_TERM_S * terms, 0.2 * settings.time_limit_s)

    def left(self) -> float:
        return self.deadline - time.monotonic() - self.reserve

    def solve(self, warm_start: dict[str, str] | None) -> Plan:
        reasons = precheck(self.worlds.reference)
        if reasons:
            return self._no_plan(SolverStatus.INFEASIBLE, reasons)
        ranked = self._ranking()
        # The priority list's model is the largest (every scenario with its own starts): built first, so the
        # stages below share what its building leaves of the time limit.
        self.priority_model = self._model("priority") if self.p.decision == "priority" and self._can_build() else None
        floors = [(c, s) for c, s in ((self._warm(warm_start), "warm_start"), (ranked, "ranking")) if c]
        floor = max(floors, key=lambda f: f[0].score) if floors else None
        if self.settings.backend == "wsjf-greedy":
            if ranked is None:
                return self._no_plan(
                    SolverStatus.NO_SOLUTION_IN_TIME,
                    ["the WSJF ranking found no plan that keeps every rule in every scenario"],
                )
            return self._plan(ranked, None, None, ranked, None)
        single, single_bound = self._single_plan(floor)
        own = self._own_optima(single)
        stuck = [w for w, o in zip(self.worlds.worlds, own) if o == "infeasible"]
        if stuck:
            return self._infeasible_scenario(stuck[0])
        decision, bound = self._decision(single, single_bound, own)
        if decision is None:
            return self._without_decision(bound)
        exact = all(w.inst.exact for w in self.worlds.worlds)
        proven = single is not None and isinstance(single_bound, Fraction) and exact and single.score >= single_bound
        return self._plan(decision, bound, own, ranked, floor, (single, proven) if single else None)

    def _without_decision(self, verdict) -> Plan:
        if verdict != "infeasible":
            note = "no decision that keeps every rule in every scenario was found in time"
            return self._no_plan(SolverStatus.NO_SOLUTION_IN_TIME, [note])
        reason = _NO_RANKING if self.p.decision == "priority" else _NO_SINGLE_PLAN
        return self._no_plan(SolverStatus.INFEASIBLE, [reason])

    # ------------------------------------------------------------ floors

    def _ranking(self) -> Priced | None:
        """The WSJF ranking's plan for the worst figures of every scenario (least budget and capacity, highest
        costs), when it keeps every rule in every scenario."""
        cautious = cautious_portfolio(self.p, self.worlds)
        if cautious is None:
            return None
        try:
            inst = build_instance(cautious, self.worlds.money_resolution)
        except (ValueError, ArithmeticError):
            return None
        state = greedy_plan(inst, time.monotonic() + RANKING_SHARE * self.settings.time_limit_s)
        return self.pricer.shared(dict(state.starts)) if state.feasible else None

    def _warm(self, warm_start: dict[str, str] | None) -> Priced | None:
        if warm_start is None:
            return None
        index = {m.id: i for i, m in enumerate(self.reference.mmps)}
        quarter = {q: n for n, q in enumerate(self.reference.quarters)}
        starts = {index[m]: quarter[q] for m, q in warm_start.items() if m in index and q in quarter}
        return self.pricer.shared(starts)

    # ------------------------------------------------------------ each scenario's own optimum

    def _own_optima(self, single: Priced | None) -> list[OwnOptimum | str | None]:
        """Every scenario's best plan on its own, in a share of the time limit, hinted and floored with the best
        single plan (None: not reached in time; "infeasible": the scenario itself has no plan)."""
        until = time.monotonic() + OWN_SHARE[self.p.decision] * self.left()
        forms: dict[int, Formulation] = {}
        out: list[OwnOptimum | str | None] = []
        n = len(self.worlds.worlds)
        for k, w in enumerate(self.worlds.worlds):
            budget = (until - time.monotonic()) / (n - k)
            hint = single.starts[k] if single else None
            if budget <= 0.005 or stopping.requested():  # out of time: the single plan is the best known here
                out.append(None if hint is None else OwnOptimum(hint, self.pricer.value(w, hint), None, False))
                continue
            if w.rules not in forms:
                forms[w.rules] = build(w.inst, objective=False)
            f = replace(forms[w.rules], inst=w.inst)
            out.append(self._own(w, f, budget, hint))
        return out

    def _own(self, w: World, f: Formulation, time_s: float, hint: dict[int, int] | None) -> OwnOptimum | str | None:
        f.model.maximize(value_expression(f))
        f.model.clear_hints()
        for (i, s), var in f.x.items():
            if hint is not None:
                f.model.add_hint(var, int(hint.get(i) == s))
        solver = cpsat_solver(self.settings, time_s, starts=len(f.x))
        status = solve_stoppable(solver, f.model)
        if status == cp_model.INFEASIBLE:
            return "infeasible"
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return None
        money = Fraction(w.inst.money_resolution)
        bound = Fraction(round(solver.best_objective_bound)) * money if w.inst.exact else None
        proven = status == cp_model.OPTIMAL and w.inst.exact
        found = {i: s for (i, s), var in f.x.items() if solver.value(var)}
        candidates = [s for s in (found, hint) if s is not None and self.pricer.state(w, s) is not None]
        if not candidates:  # rounded amounts: the model's plan breaks an exact rule
            return None
        best = max(candidates, key=lambda s: self.pricer.value(w, s))  # never below the single plan here
        return OwnOptimum(best, self.pricer.value(w, best), bound, proven)

    # ------------------------------------------------------------ the decision

    def _single_plan(self, floor) -> tuple[Priced | None, Fraction | str | None]:
        """The best single plan (decision `plan`): the joint model, hinted and floored with the best floor.
        Returns it with its bound (on the risk measure, in currency), or "infeasible"."""
        known = [floor[0]] if floor else []
        if not self._can_build():  # the floor stands
            return self._best(JointSearch("no_solution_in_time"), known)
        until = time.monotonic() + SINGLE_SHARE[self.p.decision] * self.left()
        result = self._search(self._model("plan"), until, floor[0].starts if floor else None)
        return self._best(result, known)

    def _decision(self, single: Priced | None, single_bound, own) -> tuple[Priced | None, Fraction | str | None]:
        """The decision the portfolio asks for, with its bound (in currency), or None with "infeasible" when
        no decision keeps every rule in every scenario."""
        ceiling = self._wait_and_see_bound(own)
        if self.p.decision == "per_scenario":
            return self._per_scenario(own, single), ceiling
        if self.p.decision == "priority":
            hint = single.starts if single else None
            none = JointSearch("no_solution_in_time")  # no time to build it: the single plan stands
            j = self.priority_model
            result = none if j is None else self._search(j, self.deadline - self.reserve, hint)
            chosen, bound = self._best(result, [single] if single else [])
        else:
            chosen, bound = single, single_bound
        if chosen is None:
            return None, bound
        return chosen, _least(bound if isinstance(bound, Fraction) else None, ceiling)

    def _per_scenario(self, own, single: Priced | None) -> Priced | None:
        """Each scenario's own optimum; a scenario whose optimum was not found in time keeps the single plan."""
        starts = []
        for k, o in enumerate(own):
            if isinstance(o, OwnOptimum):
                starts.append(o.starts)
            elif single is not None:
                starts.append(single.starts[k])
            else:
                return None
        return self.pricer.priced(starts)

    def _wait_and_see_bound(self, own) -> Fraction | None:
        """The risk measure of every scenario's own bound: no decision scores higher (every measure here rises
        with each scenario's value)."""
        bounds = [o.bound if isinstance(o, OwnOptimum) else None for o in own]
        if any(b is None for b in bounds):
            return None
        dist = [(w.probability, b) for w, b in zip(self.worlds.worlds, bounds)]
        return measures.score(self.p.risk, dist, self.pricer.dist)  # type: ignore[arg-type]

    def _can_build(self) -> bool:
        """Whether a joint model is likely to be built in the time left (its size is scenarios x MMPs)."""
        return self.left() > BUILD_S_PER_TERM * len(self.worlds.worlds) * len(self.p.mmps)

    def _model(self, decision: str) -> Joint:
        """The joint model of `decision` over every scenario."""
        j = joint_model(self.worlds, decision, self.p.risk, self.pricer.dist)
        if not fits_int64(j):
            raise PortfolioError([Problem("$.risk", _TOO_FINE)])
        return j

    def _search(self, j: Joint, until: float, hint: Decision | None) -> JointSearch:
        """Search the joint model until `until` (monotonic; building the model counted before)."""
        left = until - time.monotonic()
        if left < MIN_SEARCH_S:  # building took the time: what is known stands
            return JointSearch("no_solution_in_time")
        return search(j, self.settings, left, hint)

    def _best(self, result: JointSearch, known: list[Priced]) -> tuple[Priced | None, Fraction | str | None]:
        """The best of the search's plans and the known ones, with the search's bound in currency."""
        priced = [c for c in (self.pricer.priced(starts) for starts in result.plans) if c is not None]
        best = max(priced + known, key=lambda c: c.score, default=None)
        if result.status == "infeasible" and best is None:
            return None, "infeasible"
        money = Fraction(self.worlds.money_resolution)
        bound = None if result.bound is None else result.bound * money
        if result.status == "optimal" and bound is None and best is not None:
            bound = best.score  # a MIP proof without a separate bound
        return best, bound

    # ------------------------------------------------------------ the plan

    def _plan(self, decision: Priced, bound, own, ranked: Priced | None, floor, single=None) -> Plan:
        exact = all(w.inst.exact for w in self.worlds.worlds)
        proven = bound is not None and exact and decision.score >= bound
        status = SolverStatus.OPTIMAL if proven else SolverStatus.FEASIBLE
        state = replay(self.reference, decision.starts[0])
        assert state is not None  # the reference has the first scenario's rules, which the decision keeps
        from optimizer.solve import solution_of  # the certain solve imports this module

        plan = assemble_plan(self.worlds.reference, solution_of(self.reference, state), status, None, self._info())
        plan.objective = amount(decision.score)
        plan.bound = None if bound is None or not exact else max(plan.objective, amount(bound))
        plan.gap = None if plan.bound is None else relative_gap(plan.objective, plan.bound)
        plan.not_selected = not_selected_reasons(self.worlds.reference, plan)
        plan.explanation = Explanation(binding=binding_constraints(self.worlds.reference, plan))
        if self.settings.backend != "wsjf-greedy" and ranked is not None:
            ids = {self.reference.mmps[i].id: s for i, s in ranked.starts[0].items()}
            plan.baseline = baseline(self.worlds.reference, plan, ids, amount(ranked.score))
        summary.describe(plan, self.p, self.worlds, decision, own, single, self.pricer.dist)
        plan.solver = self._info(floor, least_money=False)
        return plan

    def _info(self, floor=None, least_money: bool | None = None) -> SolverInfo:
        return SolverInfo(
            backend=self.settings.backend,
            time_s=round(time.monotonic() - self.started, 4),
            time_limit_s=self.settings.time_limit_s,
            seed=self.settings.seed,
            relative_gap=self.settings.relative_gap,
            workers=self.settings.workers,
            money_resolution=self.worlds.money_resolution,
            exact=all(w.inst.exact for w in self.worlds.worlds),
            least_money=least_money,
            floor=None if floor is None else Floor(source=floor[1], value=amount(floor[0].score)),
        )

    def _no_plan(self, status: SolverStatus, reasons: list[str]) -> Plan:
        return Plan(status=status, solver=self._info(), explanation=Explanation(infeasibility=reasons))

    def _infeasible_scenario(self, w: World) -> Plan:
        reasons = explain_infeasibility(w.portfolio, w.inst, self.settings, self.left())
        return self._no_plan(SolverStatus.INFEASIBLE, [f"in scenario {w.id}: {r}" for r in reasons])


_NO_SINGLE_PLAN = (
    "no single plan keeps every rule in every scenario, though each scenario has plans of its own: decision "
    "'priority' or 'per_scenario' lets the funded MMPs follow the scenario"
)
_NO_RANKING = (
    "no ranking has prefixes that keep every rule in every scenario (a mandatory MMP, a group's minimum or a "
    "together-set may need different MMPs in different scenarios): decision 'per_scenario' shows each scenario's "
    "own plan"
)
_TOO_FINE = (
    "the probabilities, alpha, weight, distances or radius have too many digits to score plans exactly in 64-bit "
    "integers; round them (for example probabilities to 0.001) or state money in a larger unit"
)


def _least(a: Fraction | None, b: Fraction | None) -> Fraction | None:
    bounds = [x for x in (a, b) if x is not None]
    return min(bounds) if bounds else None
