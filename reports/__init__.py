"""What a VMO lead reads: amounts in the portfolio's currency, and one self-contained HTML page per plan,
what-if or frontier with its charts inline as SVG (drawn by matplotlib). Imports models only."""

from reports.html import frontier_report, plan_report, whatif_report
from reports.money import compact, money, percent, units

__all__ = ["compact", "frontier_report", "money", "percent", "plan_report", "units", "whatif_report"]
