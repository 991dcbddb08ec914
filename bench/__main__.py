"""`python -m bench COMMAND`: benchmark tables on stdout, JSON under bench/results/ (`--help` lists them)."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bench import api, batch, certify, mkp, one_thread, risk, scale, service, uplift, whatif

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False)
console = Console(width=160)
RESULTS = Path(__file__).resolve().parent / "results"


def _write(name: str, payload: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"machine": platform.platform(), "python": platform.python_version(), "at": time.time(), **payload}
    path.write_text(json.dumps(payload, indent=2))
    console.print(f"wrote {path}")
    return path


def _table(title: str, rows: list[dict], formats: dict[str, str]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in formats:
        table.add_column(column, justify="left" if formats[column] == "s" else "right")
    for row in rows:
        table.add_row(*(format(row[c], formats[c]) for c in formats))
    return table


@app.command("mkp")
def run_mkp(
    files: Annotated[str, typer.Option(help="mknapcb file numbers, comma separated")] = "1,2,3,4,5,6,7,8,9",
    instances: Annotated[str, typer.Option(help="instance indices per file (0-9 t=0.25, 10-19 0.5, 20-29 0.75)")] = "0",
    time_limit: Annotated[float, typer.Option(help="seconds per instance and solver")] = 10.0,
    workers: Annotated[int, typer.Option(help="solver threads")] = 2,
    solvers: Annotated[str, typer.Option(help="comma separated")] = ",".join(mkp.SOLVERS),
) -> None:
    """OR-Library multidimensional knapsack: gap to best-known per group, ours beside plain peers."""
    rows = mkp.run(
        [int(f) for f in files.split(",")],
        [int(i) for i in instances.split(",")],
        time_limit,
        workers,
        solvers.split(","),
    )
    summary = mkp.summarize(rows)
    console.print(
        _table(
            f"OR-Library MKP, {time_limit:g} s per instance, {workers} workers",
            summary,
            {
                "group": "s",
                "solver": "s",
                "instances": "d",
                "mean_gap_pct": ".4f",
                "max_gap_pct": ".4f",
                "mean_time_s": ".2f",
                "optimal": "d",
            },
        )
    )
    by_m = mkp.by_m(rows)
    console.print(_table("Mean gap to best-known (%) by m", by_m, {"m": "d", "solver": "s", "mean_gap_pct": ".4f"}))
    _write("mkp", {"time_limit_s": time_limit, "workers": workers, "rows": rows, "summary": summary, "by_m": by_m})


@app.command("scale")
def run_scale(
    sizes: Annotated[str, typer.Option(help="MMPsxQUARTERSxPOOLS cases")] = scale.DEFAULT_SIZES,
    time_limit: Annotated[float, typer.Option()] = 30.0,
    backends: Annotated[str, typer.Option()] = "cp-sat,cbc",
    workers: Annotated[int, typer.Option()] = 2,
) -> None:
    """Seeded realistic portfolios from 100 to 5,000 MMPs: build time, solve time, gap, peak memory."""
    rows = scale.run(scale.parse_sizes(sizes), backends.split(","), time_limit, workers)
    console.print(
        _table(
            f"Scale, {time_limit:g} s limit, {workers} workers",
            rows,
            {
                "case": "s",
                "backend": "s",
                "build_s": ".2f",
                "solve_s": ".2f",
                "status": "s",
                "objective": "s",
                "gap_pct": "s",
                "peak_mib": ".0f",
            },
        )
    )
    _write("scale", {"time_limit_s": time_limit, "rows": rows})


@app.command("certify")
def run_certify(
    count: Annotated[int, typer.Option(help="seeded portfolios of 30 to 80 MMPs with non-round amounts")] = 50,
    time_limit: Annotated[float, typer.Option(help="seconds per solve of the default backend")] = 20.0,
    cbc_time_limit: Annotated[float, typer.Option(help="seconds per CBC solve (the reference value)")] = 60.0,
) -> None:
    """Exact certification on real amounts: every plan proven optimal, at CBC's value."""
    rows, summary = certify.run(count, time_limit, cbc_time_limit)
    console.print(
        _table(
            f"Certification on non-round amounts, {count} portfolios, {time_limit:g} s",
            rows,
            {"seed": "d", "mmps": "d", "status": "s", "seconds": ".2f", "cbc_status": "s", "same_value": "d"},
        )
    )
    console.print(
        f"proven optimal: {summary['optimal']} of {summary['portfolios']}; same value as CBC: "
        f"{summary['same_as_cbc']} (CBC proved {summary['cbc_optimal']}); slowest {summary['max_seconds']:.1f} s"
    )
    _write("certify", {"time_limit_s": time_limit, "rows": rows, "summary": summary})


@app.command("one-thread")
def run_one_thread(
    cases: Annotated[str, typer.Option(help="insurance, certify-SEED or SEEDxMMPSxQUARTERSxPOOLS, comma separated")] = (
        one_thread.DEFAULT_CASES
    ),
    time_limit: Annotated[float, typer.Option(help="seconds per solve")] = 20.0,
) -> None:
    """CP-SAT on one thread (study and job solves): our parameters beside CP-SAT's defaults, goal 1."""
    rows, summary = one_thread.run(cases.split(","), time_limit)
    console.print(
        _table(
            f"CP-SAT on one thread, {time_limit:g} s per solve",
            rows,
            {
                "case": "s",
                "starts": "d",
                "ours_status": "s",
                "ours_s": ".2f",
                "ours_gap_pct": "s",
                "default_status": "s",
                "default_s": ".2f",
                "default_gap_pct": "s",
                "time_ratio": ".2f",
                "better_value": "d",
            },
        )
    )
    ratio = summary["time_ratio_where_both_proved"]
    console.print(
        f"proven optimal: ours {summary['ours_optimal']}, default {summary['default_optimal']} of {summary['cases']}; "
        f"mean time ratio where both proved: {'-' if ratio is None else format(ratio, '.2f')}"
    )
    _write("one_thread", {"time_limit_s": time_limit, "rows": rows, "summary": summary})


@app.command("whatif")
def run_whatif(
    count: Annotated[int, typer.Option(help="seeded portfolios")] = 20,
    time_limit: Annotated[float, typer.Option(help="seconds per solve")] = 2.0,
    processes: Annotated[int, typer.Option(help="solver processes, one thread each")] = 2,
) -> None:
    """Scenarios that only relax limits, solved as the service does: never below their base."""
    rows, summary = whatif.run(count, time_limit, processes)
    console.print(
        _table(
            f"Relaxing scenarios, {count} portfolios, {time_limit:g} s, 1 thread per solve",
            rows,
            {"seed": "d", "scenario": "s", "status": "s", "below_base": "d"},
        )
    )
    console.print(f"scenarios below their base: {summary['below_base']} of {summary['scenarios']}")
    _write("whatif", {"time_limit_s": time_limit, "rows": rows, "summary": summary})


@app.command("service")
def run_service(
    count: Annotated[int, typer.Option(help="seeded portfolios")] = 6,
    mmps: Annotated[int, typer.Option(help="MMPs per generated portfolio (4 quarters, 12 pools)")] = 200,
    time_limit: Annotated[float, typer.Option(help="seconds per solve")] = 10.0,
) -> None:
    """Solves through the service's solver pool, one at a time and all at once, beside `vmo solve`'s."""
    rows, summary = service.run(count, mmps, time_limit)
    title = f"Service conditions, {count} portfolios of {mmps} MMPs, {time_limit:g} s, every core asked for"
    formats = {"portfolio": "d", "way": "s", "threads": "d", "status": "s", "value": ",.0f", "seconds": ".1f"}
    console.print(_table(title, [r | {"value": r["value"] or 0} for r in rows], formats))
    gaps = summary["mean_gap_pct"]
    console.print(
        f"lone request: {summary['lone_threads']} threads, value {summary['lone_over_direct_mean']:.4f} of direct's "
        f"(min {summary['lone_over_direct_min']:.4f}); together: {summary['together_threads']} threads each, "
        f"value {summary['together_over_direct_mean']:.4f} of direct's, "
        f"{summary['throughput_together_over_lone']:.2f}x the throughput of one at a time; "
        f"mean gap direct / lone / together {gaps['direct']:.3f} / {gaps['lone']:.3f} / {gaps['together']:.3f} %"
    )
    _write("service", {"time_limit_s": time_limit, "mmps": mmps, "rows": rows, "summary": summary})


@app.command("uplift")
def run_uplift(
    count: Annotated[int, typer.Option(help="seeded portfolios")] = 50,
    time_limit: Annotated[float, typer.Option()] = 10.0,
) -> None:
    """Optimizer value over the WSJF ranking baseline on a fixed seeded set of realistic portfolios."""
    rows, summary = uplift.run(count, time_limit)
    console.print(
        _table(
            f"Uplift over the WSJF ranking, {count} portfolios, {time_limit:g} s",
            [summary],
            {"portfolios": "d", "optimal": "d", "mean_pct": ".2f", "min_pct": ".2f", "max_pct": ".2f"},
        )
    )
    _write("uplift", {"time_limit_s": time_limit, "rows": rows, "summary": summary})


@app.command("risk")
def run_risk(
    time_limit: Annotated[float, typer.Option(help="seconds per solve")] = 30.0,
    seeds: Annotated[str, typer.Option(help="portfolio seeds, comma separated")] = "2001,2002",
    sizes: Annotated[str, typer.Option(help="budget scenario counts for the priority list")] = "10,100",
    samples: Annotated[str, typer.Option(help="sampled scenario counts for the convergence run")] = "50,200,1000",
) -> None:
    """A priority list over budget scenarios beside one plan (40 MMPs); sampling convergence out of sample."""
    rows = risk.priority(time_limit, [int(s) for s in seeds.split(",")], [int(n) for n in sizes.split(",")])
    formats = {"seed": "d", "scenarios": "d", "plan_status": "s", "plan_s": ".1f", "plan_value": ",.0f"}
    formats |= {"priority_status": "s", "priority_s": ".1f", "priority_value": ",.0f", "priority_over_plan_pct": ".2f"}
    console.print(_table(f"Priority list vs one plan, 40 MMPs, {time_limit:g} s per solve", rows, formats))
    converge = risk.sampling(time_limit, int(seeds.split(",")[0]), [int(n) for n in samples.split(",")])
    formats = {"samples": "d", "status": "s", "seconds": ".1f", "in_sample": ",.0f", "out_of_sample": ",.0f"}
    formats |= {"vs_best_pct": ".3f"}
    title = f"Sampling convergence: valued on {risk.EVALUATION_SAMPLES:,} other samples"
    console.print(_table(title, converge, formats))
    _write("risk", {"time_limit_s": time_limit, "priority": rows, "sampling": converge})


@app.command("api")
def run_api(repeats: Annotated[int, typer.Option(help="solves each way")] = 30) -> None:
    """What the HTTP layer adds to a solve of the smallest fixture (direct vs through uvicorn)."""
    row = api.run(repeats)
    console.print(
        _table(
            "API overhead on the smallest fixture",
            [row],
            {"fixture": "s", "repeats": "d", "direct_median_ms": ".1f", "http_median_ms": ".1f", "overhead_ms": ".1f"},
        )
    )
    _write("api", row)


@app.command("batch")
def run_batch(
    count: Annotated[int, typer.Option(help="solves in the batch")] = 200,
    time_limit: Annotated[float, typer.Option(help="seconds per solve")] = 10.0,
    mmps: Annotated[int, typer.Option(help="MMPs per generated portfolio")] = 25,
    repeats: Annotated[int, typer.Option(help="runs per pool size, alternated")] = 1,
) -> None:
    """A batch job through the worker with a local pool of 1 and of 2 processes (1 solver thread each)."""
    rows, summary = batch.run(count, time_limit, mmps, repeats)
    title = f"Batch job of {count} solves ({mmps} MMPs each), local pool, 1 solver thread per solve"
    formats = {
        "processes": "d",
        "solves": "d",
        "median_s": ".1f",
        "solves_per_s": ".2f",
        "optimal": "d",
        "infeasible": "d",
    }
    console.print(_table(title, rows, formats))
    console.print(f"speed-up with 2 processes: {summary['speedup_2_vs_1']:.2f}x (target {summary['target']}x)")
    _write("batch", {"time_limit_s": time_limit, "mmps": mmps, "rows": rows, "summary": summary})


@app.command("all")
def run_all(time_limit: Annotated[float, typer.Option()] = 10.0) -> None:
    """The tables of the README, with their default settings."""
    run_mkp(time_limit=time_limit)
    run_scale()
    run_certify()
    run_one_thread()
    run_whatif()
    run_service()
    run_uplift(time_limit=time_limit)
    run_api()
    run_batch()


if __name__ == "__main__":
    app()
