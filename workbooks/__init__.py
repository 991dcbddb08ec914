"""Spreadsheets in and out: the backlog workbook (and CSV) a VMO keeps, read into a portfolio; a portfolio
written back as such a workbook (and the template); a plan written as a workbook. Imports models only."""

from workbooks.plan_book import plan_workbook
from workbooks.reader import XLSX_MEDIA_TYPE, kind_of, read_csv, read_workbook
from workbooks.writer import portfolio_json, portfolio_workbook, template_workbook

__all__ = [
    "XLSX_MEDIA_TYPE",
    "kind_of",
    "plan_workbook",
    "portfolio_json",
    "portfolio_workbook",
    "read_csv",
    "read_workbook",
    "template_workbook",
]
