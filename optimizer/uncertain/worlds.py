"""The scenarios a plan is scored over, each a certain portfolio with its solver data.

An uncertain portfolio has explicit scenarios (each overriding some figures, with a probability), value ranges
(sampled into `scenario_count` samples with the solve's seed), or both: then every explicit scenario is
combined with every sample (the same samples for each, so scenarios differ only where they say they do). All
of them are counted in one money unit, since a plan's values in different scenarios are added up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction
from functools import cached_property

import numpy as np

from models import units
from models.portfolio import Portfolio, RiskScenario, ValueRange, per_quarter
from models.settings import SolverSettings
from models.uncertainty import in_scenario, money_resolution, sample_step
from optimizer.instance import Instance, build_instance, with_values

DISTANCE_UNIT = Decimal("0.000001")  # a Euclidean distance between scenarios is rounded to this


@dataclass(frozen=True)
class World:
    """One scenario: its id, exact probability, figures and solver data."""

    id: str
    probability: Fraction
    rules: int  # the explicit scenario whose budget, costs, capacity and guardrails it has (0 without any)
    explicit: Portfolio  # that explicit scenario as a certain portfolio (its own values, value ranges unsampled)
    inst: Instance
    sampled: dict[str, Decimal]  # MMP id -> the value sampled for it in this scenario

    @cached_property
    def portfolio(self) -> Portfolio:
        """This scenario as a certain portfolio (no scenarios, no value ranges); built when first asked for:
        most of the solve reads `explicit` and `sampled` instead."""
        return in_scenario(self.explicit, None, self.sampled) if self.sampled else self.explicit


@dataclass(frozen=True)
class Worlds:
    """Every scenario of a portfolio, and the one the plan's rows describe."""

    worlds: list[World]
    reference: Portfolio  # the first explicit scenario (or the portfolio's own figures) with its own values
    money_resolution: Decimal

    @property
    def rule_worlds(self) -> list[World]:
        """The first world of each explicit scenario: the scenarios that differ in more than values."""
        first: dict[int, World] = {}
        for w in self.worlds:
            first.setdefault(w.rules, w)
        return list(first.values())


def expand(p: Portfolio, settings: SolverSettings) -> Worlds:
    """Every scenario of an uncertain portfolio, in order: explicit scenarios, each with every sample."""
    money = money_resolution(p, settings.money_resolution)
    samples = sample_values(p, settings.seed)
    explicit: list[RiskScenario | None] = list(p.scenarios) or [None]
    weights = [Fraction(s.probability) if s else Fraction(1) for s in explicit]
    total = sum(weights)
    worlds = []
    for r, scenario in enumerate(explicit):
        rules = in_scenario(p, scenario)
        inst = build_instance(rules, money)
        for n, drawn in enumerate(samples):
            values = {m: v for m, v in drawn.items() if scenario is None or m not in scenario.value}
            world_id = _world_id(scenario, n, len(samples))
            probability = weights[r] / total / len(samples)
            world_inst = with_values(inst, rules, values) if values else inst
            worlds.append(World(world_id, probability, r, rules, world_inst, values))
    return Worlds(worlds, in_scenario(p, explicit[0]), money)


def _world_id(scenario: RiskScenario | None, n: int, samples: int) -> str:
    if samples == 1:
        return scenario.id if scenario else "certain"
    return f"{scenario.id}/sample-{n + 1}" if scenario else f"sample-{n + 1}"


# ---------------------------------------------------------------- sampling


def sample_values(p: Portfolio, seed: int) -> list[dict[str, Decimal]]:
    """`scenario_count` draws of every value range (one dict per draw; [{}] without value ranges), reproducible
    from the seed: each range drawn in portfolio order from one generator."""
    ranged = [(m.id, m.value_range) for m in p.mmps if m.value_range is not None]
    if not ranged:
        return [{}]
    rng = np.random.default_rng(seed)
    columns = {mmp: _draw(r, p.scenario_count, rng) for mmp, r in ranged}
    return [{mmp: column[n] for mmp, column in columns.items()} for n in range(p.scenario_count)]


def _draw(r: ValueRange, n: int, rng: np.random.Generator) -> list[Decimal]:
    """n values from the range's distribution, rounded to its sample step and kept inside [low, high]."""
    step = sample_step(r)
    if step is None:
        return [r.likely] * n
    low, likely, high = float(r.low), float(r.likely), float(r.high)
    if r.shape == "triangular":
        draws = rng.triangular(low, likely, high, n)
    else:  # Beta-PERT: the mode weighs four times as much as either bound in the mean (a + 4m + b) / 6
        a = 1 + 4 * (likely - low) / (high - low)
        b = 1 + 4 * (high - likely) / (high - low)
        draws = low + (high - low) * rng.beta(a, b, n)
    with localcontext(prec=units.PRECISION):
        rounded = (Decimal(repr(float(x))).quantize(step, rounding=ROUND_HALF_EVEN) for x in draws)
        return [min(r.high, max(r.low, v)) for v in rounded]


# ---------------------------------------------------------------- distances


def distances(p: Portfolio, worlds: Worlds) -> list[list[Fraction]]:
    """The distance between every two scenarios: `risk.distances` when given, else the Euclidean distance
    between the vectors of every figure any scenario overrides (per-quarter figures expanded), rounded to
    DISTANCE_UNIT."""
    if p.risk.distances is not None:
        return [[Fraction(d) for d in row] for row in p.risk.distances]
    vectors = [figures(p, w.portfolio) for w in worlds.worlds]
    return [[_euclidean(a, b) for b in vectors] for a in vectors]


def figures(p: Portfolio, world: Portfolio) -> list[Decimal]:
    """The world's value of every figure that some scenario of `p` overrides or samples, in a fixed order."""
    T = len(p.quarters)
    out: list[Decimal] = []
    if any(s.budget is not None for s in p.scenarios):
        out += per_quarter(world.budget, T)
    mmps = {m.id: m for m in world.mmps}
    valued = {m for s in p.scenarios for m in s.value} | {m.id for m in p.mmps if m.value_range is not None}
    costed = {m for s in p.scenarios for m in s.cost}
    for m in p.mmps:
        if m.id in valued:
            out.append(mmps[m.id].outcome_value)
        if m.id in costed:
            out += mmps[m.id].cost
    pools = {pool.id: pool for pool in world.pools}
    for pool_id in sorted({x for s in p.scenarios for x in s.capacity}):
        out += per_quarter(pools[pool_id].capacity, T)
    streams = {vs.id: vs for vs in world.value_streams}
    budget = per_quarter(world.budget, T)
    for stream_id in sorted({x for s in p.scenarios for x in s.value_streams}):
        vs = streams[stream_id]
        out += per_quarter(vs.min_budget, T)
        out += [b if m is None else m for m, b in zip(per_quarter(vs.max_budget, T), budget)]
    return out


def _euclidean(a: list[Decimal], b: list[Decimal]) -> Fraction:
    with localcontext(prec=units.PRECISION):
        squares = sum(((x - y) ** 2 for x, y in zip(a, b, strict=True)), Decimal(0))
        return Fraction(squares.sqrt().quantize(DISTANCE_UNIT, rounding=ROUND_HALF_EVEN))


def lcm_of(fractions: list[Fraction]) -> int:
    """The least common multiple of the denominators."""
    return math.lcm(*(f.denominator for f in fractions)) if fractions else 1
