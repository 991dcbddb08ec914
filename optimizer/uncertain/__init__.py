"""Uncertain portfolios (docs/design.md, section 4.7): scenarios and value ranges, risk measures, a plan, a
priority list or each scenario's own optimum, chosen over all scenarios at once."""
