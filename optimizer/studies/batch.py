"""A batch: many unrelated portfolios, each solved as it is."""

from __future__ import annotations

from collections.abc import Sequence

from models import PortfolioError, checked_problems
from models.plan import Plan
from models.portfolio import Portfolio
from optimizer.studies.core import StudyTask


class BatchStudy:
    def tasks(self, portfolios: list[Portfolio]) -> list[StudyTask]:
        """One task per portfolio; every portfolio is checked first (paths `$.portfolios[i]`)."""
        problems = [
            p for i, portfolio in enumerate(portfolios) for p in checked_problems(portfolio, f"$.portfolios[{i}]")
        ]
        if problems:
            raise PortfolioError(problems)
        return [StudyTask(portfolio.name, portfolio) for portfolio in portfolios]

    def assemble(self, portfolios: list[Portfolio], plans: Sequence[Plan | None]) -> list[Plan | None]:
        return list(plans)
