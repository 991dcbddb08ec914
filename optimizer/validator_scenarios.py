"""Independent checks of a plan over the scenarios of an uncertain portfolio (docs/design.md, sections 4.7
and 7).

Like `optimizer.validator`, this imports only the schemas in `models`, the standard library and the certain
validator, and reads the rules afresh: it applies each scenario's overrides itself, and for every scenario it
builds the least allocations and purchases that pay for the scenario's funded MMPs (exactly, in fractions) and
runs every rule check of the certain validator on them. Then it recomputes each scenario's value, the risk
figures (expected value, percentiles, VaR, CVaR; for the Wasserstein measure the worst case at the plan's
multiplier and the slopes that make that multiplier optimal), the decision's shape (one plan; a priority list
whose prefixes the scenarios fund) and the WSJF ranking's score on the same scenarios.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction

from models.plan import BudgetRow, CapacityRow, KeyResultRow, Plan, ScenarioOutcome, SelectedMMP
from models.portfolio import MMP, Portfolio, RiskScenario, ValueStream
from optimizer.validator import CHECKS, TOL, _Context, _expand, _same, validate_rows, value_of

PRECISION = 80
ROUNDING = Decimal("1e-9")  # least allocations that are not whole decimals are rounded up to this
DISTANCE_UNIT = Decimal("0.000001")
GAMMA_PROBE = Fraction(1, 10**6)  # the multiplier's optimality is judged this far either side of it


@dataclass(frozen=True)
class _Expected:
    id: str
    probability: Fraction
    scenario: RiskScenario | None
    ranged: frozenset[str]  # MMPs whose value this scenario samples


def validate(p: Portfolio, plan: Plan) -> list[str]:
    """Every violation by a plan over the scenarios of `p`: the rows (the first scenario with the portfolio's
    own values), every scenario's decision, and every figure over the scenarios."""
    reference = _in_scenario(p, p.scenarios[0] if p.scenarios else None, {})
    problems = validate_rows(reference, plan, scored=True)
    expected = _expected(p)
    if [s.id for s in plan.scenarios] != [e.id for e in expected]:
        return [
            *problems,
            f"scenarios: should be {[e.id for e in expected][:5]}..., not {[s.id for s in plan.scenarios][:5]}...",
        ]
    worlds = []
    rules = _RuleCache(plan)
    for e, out in zip(expected, plan.scenarios):
        if abs(Fraction(out.probability) - e.probability) > Fraction(TOL):
            problems.append(f"scenario {e.id}: probability {out.probability}, not {float(e.probability)}")
        problems += [f"scenario {e.id}: {m}" for m in _sampled(p, e, out)]
        world = _in_scenario(p, e.scenario, {m: v for m, v in out.values.items() if m in e.ranged})
        worlds.append(world)
        problems += [f"scenario {e.id}: {m}" for m in rules.problems(e, world, out.funded)]
        value = _value(world, out.funded, plan)
        if value is not None and not _same(value, out.value):
            problems.append(f"scenario {e.id}: the decision is worth {value} here, not {out.value}")
    problems += _decision(p, plan, reference)
    problems += _risk(p, plan, [e.probability for e in expected], worlds)
    problems += _robustness(p, plan)
    problems += _baseline(p, plan, expected, worlds, rules)
    return problems


# ---------------------------------------------------------------- the scenarios


def _expected(p: Portfolio) -> list[_Expected]:
    """The scenarios a plan must report, in order: each explicit scenario (or the portfolio as it is) with
    every sample of the value ranges."""
    ranged = {m.id for m in p.mmps if m.value_range is not None}
    samples = p.scenario_count if ranged else 1
    explicit: list[RiskScenario | None] = list(p.scenarios) or [None]
    total = sum((Fraction(s.probability) for s in p.scenarios), Fraction(0)) or Fraction(1)
    out = []
    for s in explicit:
        weight = (Fraction(s.probability) if s else Fraction(1)) / total / samples
        sampled = frozenset(ranged - set(s.value if s else ()))
        out += [_Expected(_name(s, n, samples), weight, s, sampled) for n in range(samples)]
    return out


def _name(s: RiskScenario | None, n: int, samples: int) -> str:
    """`cut10`, `sample-3` or `cut10/sample-3` (the portfolio as it is: `certain`)."""
    if samples == 1:
        return s.id if s else "certain"
    return f"{s.id}/sample-{n + 1}" if s else f"sample-{n + 1}"


def _in_scenario(p: Portfolio, s: RiskScenario | None, sampled: dict[str, Decimal]) -> Portfolio:
    """The portfolio with the scenario's overrides and the sampled values applied (read afresh from the
    contract, not from the solver's own expansion)."""
    values = dict(s.value) if s else {}
    values.update(sampled)
    mmps = []
    for m in p.mmps:
        changes: dict = {"value_range": None}
        if m.id in values or m.value_range is not None:
            changes["value"] = values.get(m.id, m.outcome_value)  # a ranged MMP: its value, else its likely one
        if s and m.id in s.cost:
            changes["cost"] = s.cost[m.id]
        mmps.append(m.model_copy(update=changes))
    update: dict = {"mmps": mmps, "scenarios": []}
    if s is not None:
        if s.budget is not None:
            update["budget"] = s.budget
        update["pools"] = [
            x.model_copy(update={"capacity": s.capacity[x.id]}) if x.id in s.capacity else x for x in p.pools
        ]
        update["value_streams"] = [_stream(v, s) for v in p.value_streams]
    return p.model_copy(update=update)


def _stream(v: ValueStream, s: RiskScenario) -> ValueStream:
    bounds = s.value_streams.get(v.id)
    if bounds is None:
        return v
    update = {}
    if bounds.min_budget is not None:
        update["min_budget"] = bounds.min_budget
    if bounds.max_budget is not None:
        update["max_budget"] = bounds.max_budget
    return v.model_copy(update=update)


def _sampled(p: Portfolio, e: _Expected, out: ScenarioOutcome) -> Iterator[str]:
    if set(out.values) != e.ranged:
        yield f"sampled values for {sorted(out.values)}, but the value ranges to sample are {sorted(e.ranged)}"
    mmps = {m.id: m for m in p.mmps}
    for mmp, value in out.values.items():
        r = mmps[mmp].value_range if mmp in mmps else None
        if r is not None and not r.low <= value <= r.high:
            yield f"the value {value} sampled for {mmp} lies outside its range {r.low} to {r.high}"


# ---------------------------------------------------------------- one scenario's rules and value


def _starts(p: Portfolio, funded: dict[str, str]) -> dict[str, int] | None:
    at = {q: i for i, q in enumerate(p.quarters)}
    mmps = {m.id for m in p.mmps}
    if any(m not in mmps or q not in at for m, q in funded.items()):
        return None
    return {m: at[q] for m, q in funded.items()}


class _RuleCache:
    """Rule checks by explicit scenario and funded MMPs: samples of the value ranges change no rule."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.found: dict[tuple, list[str]] = {}

    def problems(self, e: _Expected, world: Portfolio, funded: dict[str, str]) -> list[str]:
        key = (e.scenario.id if e.scenario else None, frozenset(funded.items()))
        if key not in self.found:
            self.found[key] = _keeps_rules(world, funded, self.plan)
        return self.found[key]


def _keeps_rules(world: Portfolio, funded: dict[str, str], plan: Plan) -> list[str]:
    """Every rule check of the certain validator, on the least allocations and purchases that pay for the
    funded MMPs in this scenario."""
    starts = _starts(world, funded)
    if starts is None:
        return [f"funds {sorted(funded.items())}, which names an MMP or quarter the portfolio does not have"]
    rows = _least_rows(world, starts, plan)
    c = _Context(world, rows)
    return [message for check in CHECKS.values() for message in check(c)]


def _least_rows(p: Portfolio, starts: dict[str, int], plan: Plan) -> Plan:
    """The funded MMPs with the least purchases (what capacity lacks) and the least allocations (each stream's
    spending, minimum and change limit) that pay for them."""
    T = len(p.quarters)
    mmps = {m.id: m for m in p.mmps}
    running = [[(mmps[i], q - s) for i, s in starts.items() if s <= q < s + mmps[i].duration] for q in range(T)]
    capacity, bought = [], {}
    for pool in p.pools:
        cap = _expand(pool.capacity, T)
        for q in range(T):
            used = sum((m.demand[pool.id][k] for m, k in running[q] if pool.id in m.demand), Decimal(0))
            bought[pool.id, q] = max(Decimal(0), used - cap[q])
            capacity.append(
                CapacityRow(
                    pool=pool.id, quarter=p.quarters[q], used=used, available=cap[q], purchased=bought[pool.id, q]
                )
            )
    budget = []
    for v in p.value_streams:
        spend = [
            sum((m.cost[k] for m, k in running[q] if m.value_stream == v.id), Decimal(0))
            + _expand(v.run_cost, T)[q]
            + sum((x.extra_cost * bought[x.id, q] for x in p.pools if x.value_stream == v.id), Decimal(0))
            for q in range(T)
        ]
        lows, highs = _expand(v.min_budget, T), _expand(v.max_budget, T)
        for q, allocated in enumerate(_least_allocation(v, spend, lows)):
            budget.append(
                BudgetRow(
                    value_stream=v.id,
                    quarter=p.quarters[q],
                    allocated=allocated,
                    spent=spend[q],
                    min=lows[q],
                    max=highs[q],
                )
            )
    selected = [
        SelectedMMP(
            mmp=i,
            start=p.quarters[s],
            finish=p.quarters[min(s + mmps[i].duration, T) - 1],
            value=Decimal(0),
            cost=sum(mmps[i].cost, Decimal(0)),
        )
        for i, s in starts.items()
    ]
    reach = {k.id: sum((mmps[i].key_results.get(k.id, Decimal(0)) for i in starts), Decimal(0)) for k in p.key_results}
    krs = [KeyResultRow(id=k.id, achieved=min(k.target, reach[k.id]), target=k.target) for k in p.key_results]
    return Plan(
        status=plan.status, selected=selected, budget=budget, capacity=capacity, key_results=krs, solver=plan.solver
    )


def _least_allocation(v: ValueStream, spend: list[Decimal], lows: list[Decimal]) -> list[Decimal]:
    """The least allocation each quarter: its spending and minimum, raised where the change limit ties it to
    the quarter before or after (the least vector meeting every such tie exists: each tie is b >= factor * b')."""
    b = [Fraction(max(s, lo)) for s, lo in zip(spend, lows)]
    if v.max_change is not None:
        m = Fraction(v.max_change)
        if v.baseline_budget is not None and b:
            b[0] = max(b[0], (1 - m) * Fraction(v.baseline_budget))
        for q in range(1, len(b)):
            b[q] = max(b[q], (1 - m) * b[q - 1])
        for q in range(len(b) - 2, -1, -1):
            b[q] = max(b[q], b[q + 1] / (1 + m))
    return [_up(x) for x in b]


def _up(x: Fraction) -> Decimal:
    scaled = math.ceil(x / Fraction(ROUNDING))
    return Decimal(scaled) * ROUNDING


def _value(world: Portfolio, funded: dict[str, str], plan: Plan) -> Decimal | None:
    starts = _starts(world, funded)
    if starts is None:
        return None
    return value_of(_Context(world, Plan(status=plan.status, solver=plan.solver)), starts)


# ---------------------------------------------------------------- the decision


def _decision(p: Portfolio, plan: Plan, reference: Portfolio) -> Iterator[str]:
    rows = {s.mmp: s.start for s in plan.selected}
    if plan.scenarios and rows != plan.scenarios[0].funded:
        yield "scenarios: the plan's rows must show the first scenario's funded MMPs"
    if p.decision == "plan":
        first = plan.scenarios[0].funded if plan.scenarios else {}
        for s in plan.scenarios:
            if s.funded != first:
                yield f"scenario {s.id}: decision 'plan' funds the same MMPs in every scenario, in the same quarters"
                break
    if p.decision == "priority":
        yield from _priority(p, plan)
    if p.decision == "per_scenario":
        for s in plan.scenarios:
            if s.own_value is not None and not _same(s.own_value, s.value):
                yield f"scenario {s.id}: decision 'per_scenario' is each scenario's own optimum, worth {s.own_value}"
    if p.decision == "plan":
        for s in plan.scenarios:  # an own optimum is never below the single plan in its own scenario
            if s.own_value is not None and s.own_value < s.value - TOL:
                yield f"scenario {s.id}: its own optimum {s.own_value} is below the plan's value {s.value} there"


def _priority(p: Portfolio, plan: Plan) -> Iterator[str]:
    """The list ranks every unit once (a group of alternatives with max 1, or an MMP in none), and every
    scenario funds a prefix of it."""
    owner = {}
    for g in p.groups:
        if g.max == 1:
            for m in g.mmps:
                owner[m] = g.id
    units = list(dict.fromkeys(owner.get(m.id, m.id) for m in p.mmps))
    if plan.priority is None or sorted(plan.priority) != sorted(units):
        yield f"priority: should rank each of {len(units)} units once, ranks {plan.priority}"
        return
    position = {u: n for n, u in enumerate(plan.priority)}
    for s in plan.scenarios:
        funded = {owner.get(m, m) for m in s.funded}
        if sorted(position[u] for u in funded) != list(range(len(funded))):
            yield f"scenario {s.id}: funds {sorted(funded)}, not a prefix of the priority list"


# ---------------------------------------------------------------- risk figures


def _risk(p: Portfolio, plan: Plan, probabilities: list[Fraction], worlds: list[Portfolio]) -> Iterator[str]:
    r = plan.risk
    if r is None:
        yield "risk: a plan over scenarios states its risk figures"
        return
    d = [(q, Fraction(s.value)) for q, s in zip(probabilities, plan.scenarios)]
    alpha = Fraction(p.risk.alpha)
    expected = _expectation(d)
    figures = {
        "expected": expected,
        "p10": _quantile(d, Fraction(1, 10)),
        "p50": _quantile(d, Fraction(1, 2)),
        "p90": _quantile(d, Fraction(9, 10)),
        "var": _quantile(d, 1 - alpha),
        "cvar": _cvar(d, alpha),
    }
    for name, ours in figures.items():
        if not _close(getattr(r, name), ours):
            yield f"risk: {name} should be {float(ours)}, not {getattr(r, name)}"
    if p.risk.measure == "wasserstein":
        yield from _wasserstein(p, plan, d, worlds)
        score = Fraction(r.worst_case) if r.worst_case is not None else None
    elif p.risk.measure == "cvar":
        weight = Fraction(p.risk.weight)
        score = (1 - weight) * expected + weight * figures["cvar"]
    else:
        score = expected
    if score is not None and plan.objective is not None and not _close(plan.objective, score):
        yield f"objective: the {p.risk.measure} score over the scenarios is {float(score)}, not {plan.objective}"
    own = [s.own_value for s in plan.scenarios]
    if r.wait_and_see is not None:
        if any(v is None for v in own):
            yield "risk: wait_and_see needs every scenario's own optimum"
        elif not _close(r.wait_and_see, sum((q * Fraction(v or 0) for q, v in zip(probabilities, own)), Fraction(0))):
            yield f"risk: wait_and_see {r.wait_and_see} is not the expected own optimum"
    if r.value_of_information is not None and r.value_of_information < -TOL:
        yield f"risk: the value of information {r.value_of_information} is negative"


def _wasserstein(p: Portfolio, plan: Plan, d, worlds: list[Portfolio]) -> Iterator[str]:
    r = plan.risk
    assert r is not None
    if r.worst_case is None or r.multiplier is None:
        yield "risk: the Wasserstein measure states its worst case and multiplier"
        return
    dist = _distances(p, worlds)
    radius = Fraction(p.risk.radius)
    gamma = Fraction(r.multiplier)
    if gamma < 0:
        yield f"risk: the multiplier {r.multiplier} is negative"
    if not _close(r.worst_case, _dual(d, dist, radius, gamma)):
        yield f"risk: at multiplier {r.multiplier} the worst case is {float(_dual(d, dist, radius, gamma))}"
    right = _dual(d, dist, radius, gamma + GAMMA_PROBE) - _dual(d, dist, radius, gamma)
    left = _dual(d, dist, radius, gamma) - _dual(d, dist, radius, max(Fraction(0), gamma - GAMMA_PROBE))
    if right > Fraction(TOL) or (gamma > GAMMA_PROBE and left < -Fraction(TOL)):
        yield f"risk: the multiplier {r.multiplier} does not maximize the dual (the worst case is not the worst)"


def _dual(d, dist: list[list[Fraction]], radius: Fraction, gamma: Fraction) -> Fraction:
    """-radius * gamma + sum_i p_i min_j (V_j + gamma * d_ij): never above the worst expected value, equal at
    the best gamma."""
    # In whole numbers: every value and distance times one common factor, and times gamma's denominator
    # (exact, and an order of magnitude faster than fractions on 100 scenarios, 10,000 pairs).
    scale = math.lcm(*{v.denominator for _, v in d}, *{x.denominator for row in dist for x in row})
    per = scale * gamma.denominator  # V + gamma * d_ij = (V * per + gamma.numerator * d_ij * scale) / per
    values = [v.numerator * (per // v.denominator) for _, v in d]
    inner = Fraction(0)
    for (q, _), row in zip(d, dist, strict=True):
        steps = [gamma.numerator * x.numerator * (scale // x.denominator) for x in row]
        inner += q * min(v + step for v, step in zip(values, steps, strict=True))
    return inner / per - radius * gamma


def _distances(p: Portfolio, worlds: list[Portfolio]) -> list[list[Fraction]]:
    if p.risk.distances is not None:
        return [[Fraction(x) for x in row] for row in p.risk.distances]
    vectors = [_figures(p, w) for w in worlds]
    out = []
    with localcontext(prec=PRECISION):
        for a in vectors:
            row = []
            for b in vectors:
                squares = sum(((x - y) ** 2 for x, y in zip(a, b)), Decimal(0))
                row.append(Fraction(squares.sqrt().quantize(DISTANCE_UNIT, rounding=ROUND_HALF_EVEN)))
            out.append(row)
    return out


def _figures(p: Portfolio, w: Portfolio) -> list[Decimal]:
    """Every figure some scenario overrides or samples, in the contract's order: budget per quarter, per MMP its
    value and its costs, per pool (by id) its capacity per quarter, per stream (by id) its min and max per
    quarter (a missing max counts as the quarter's budget)."""
    T = len(p.quarters)
    out: list[Decimal] = []
    if any(s.budget is not None for s in p.scenarios):
        out += _expand(w.budget, T)
    mmps: dict[str, MMP] = {m.id: m for m in w.mmps}
    valued = {m for s in p.scenarios for m in s.value} | {m.id for m in p.mmps if m.value_range is not None}
    costed = {m for s in p.scenarios for m in s.cost}
    for m in p.mmps:
        if m.id in valued:
            out.append(mmps[m.id].outcome_value)
        if m.id in costed:
            out += mmps[m.id].cost
    pools = {x.id: x for x in w.pools}
    for pool in sorted({x for s in p.scenarios for x in s.capacity}):
        out += _expand(pools[pool].capacity, T)
    streams = {v.id: v for v in w.value_streams}
    budget = _expand(w.budget, T)
    for stream in sorted({x for s in p.scenarios for x in s.value_streams}):
        v = streams[stream]
        out += _expand(v.min_budget, T)
        out += [b if m is None else m for m, b in zip(_expand(v.max_budget, T), budget)]
    return out


def _expectation(d: Distribution) -> Fraction:
    return sum((q * v for q, v in d), Fraction(0))


def _quantile(d: Distribution, level: Fraction) -> Fraction:
    mass = Fraction(0)
    for q, v in sorted(d, key=lambda x: x[1]):
        mass += q
        if mass >= level:
            return v
    return max(v for _, v in d)


Distribution = list[tuple[Fraction, Fraction]]


def _cvar(d: Distribution, alpha: Fraction) -> Fraction:
    """max over eta of eta - E[(eta - V)+] / (1 - alpha), attained at eta = the (1 - alpha) quantile."""
    eta = _quantile(d, 1 - alpha)
    return eta - sum((q * max(Fraction(0), eta - v) for q, v in d), Fraction(0)) / (1 - alpha)


def _close(stated: Decimal, exact: Fraction) -> bool:
    """Equal up to the plan's rounding (10 decimal places) and the float round trip, relative to the size."""
    return abs(Fraction(stated) - exact) <= Fraction(TOL) * max(Fraction(1), abs(exact))


# ---------------------------------------------------------------- robustness and the ranking's score


def _robustness(p: Portfolio, plan: Plan) -> Iterator[str]:
    if not plan.robustness:
        return
    if [r.mmp for r in plan.robustness] != [m.id for m in p.mmps]:
        yield "robustness: one row per MMP, in portfolio order"
    for r in plan.robustness:
        label = "core" if r.share == 1 else "exterior" if r.share == 0 else "borderline"
        if not 0 <= r.share <= 1 or r.label != label:
            yield f"robustness: {r.mmp} with share {r.share} is {label}, not {r.label}"


def _baseline(p: Portfolio, plan: Plan, expected: list[_Expected], worlds: list[Portfolio], rules) -> Iterator[str]:
    """The WSJF ranking's single plan keeps every rule in every scenario and is worth the measure it states."""
    b = plan.baseline
    if b is None or p.risk.measure == "wasserstein":  # its worst case would need its own multiplier
        return
    values = []
    for e, world in zip(expected, worlds):
        problems = rules.problems(e, world, b.starts)
        if problems:
            yield f"baseline: the ranking's plan breaks a rule in scenario {e.id}: {problems[0]}"
            return
        values.append((e.probability, Fraction(_value(world, b.starts, plan) or 0)))
    mean = _expectation(values)
    score = mean
    if p.risk.measure == "cvar":
        weight = Fraction(p.risk.weight)
        score = (1 - weight) * mean + weight * _cvar(values, Fraction(p.risk.alpha))
    if not _close(b.value, score):
        yield f"baseline: the ranking's plan scores {float(score)} over the scenarios, not {b.value}"
