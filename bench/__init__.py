"""Benchmarks: `python -m bench {mkp,scale,uplift,api,all}`; prints tables and writes JSON."""
