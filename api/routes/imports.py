"""Spreadsheets in: POST /v1/imports (a backlog workbook or CSV, uploaded or as the raw body) answers the
portfolio JSON; GET /v1/imports/template downloads the workbook template."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from api.auth import Planner, Viewer
from api.errors import responses
from models import PortfolioError, Problem
from models.portfolio import Portfolio
from workbooks import XLSX_MEDIA_TYPE, kind_of, portfolio_json, read_csv, read_workbook, template_workbook

router = APIRouter(prefix="/v1", tags=["spreadsheets"], responses=responses(401, 403))

UPLOAD_SCHEMA = {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}, "required": ["file"]}
BINARY = {"schema": {"type": "string", "format": "binary"}}
IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "description": "The backlog: a multipart upload (field `file`, an .xlsx or .csv file), or the raw file as "
        "the body with content type `text/csv` or the xlsx media type.",
        "content": {"multipart/form-data": {"schema": UPLOAD_SCHEMA}, "text/csv": BINARY, XLSX_MEDIA_TYPE: BINARY},
    }
}
CSV_ONLY = "CSV only (a workbook has its own portfolio sheet)"


@router.post(
    "/imports",
    response_model=Portfolio,
    summary="Read a backlog workbook or CSV into a portfolio",
    openapi_extra=IMPORT_BODY,
    responses=responses(413, 415, 422),
)
async def create_import(
    request: Request,
    caller: Planner,
    quarters: Annotated[str | None, Query(description=f"{CSV_ONLY}: the quarters, comma-separated.")] = None,
    budget: Annotated[
        str | None, Query(description=f"{CSV_ONLY}: total budget, one number or one per quarter.")
    ] = None,
    currency: Annotated[str, Query(max_length=10, description=f"{CSV_ONLY}: the currency.")] = "USD",
    name: Annotated[str | None, Query(max_length=200, description=f"{CSV_ONLY}: the portfolio's name.")] = None,
) -> JSONResponse:
    """The portfolio of the workbook's sheets (layout: GET /v1/imports/template) or of a WSJF backlog CSV
    (the `mmps` sheet alone; its value streams are those its rows name, and it has no pools). Every problem is
    a 422 detail whose `path` is its cell (`mmps!D7`), or `$.query.quarters` / `$.query.budget`; nothing is
    stored."""
    data, kind, filename = await _upload(request)
    if kind == "csv":
        stem = (filename or "").rsplit("/", 1)[-1].rsplit(".", 1)[0] or "Imported backlog"
        options = ("$.query.quarters", "$.query.budget")

        def read():
            return read_csv(data, quarters, budget, name=name or stem, currency=currency, source="$", options=options)
    else:

        def read():
            return read_workbook(data, source="$")

    portfolio = await run_in_threadpool(read)
    return JSONResponse(portfolio_json(portfolio))


async def _upload(request: Request) -> tuple[bytes, str, str | None]:
    """The file's bytes, its kind ('xlsx' or 'csv') and its name, from a multipart upload or the raw body."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "multipart/form-data":
        try:
            form = await request.form()
        except HTTPException as exc:  # a multipart body that cannot be parsed
            if exc.status_code == 413:
                raise
            raise PortfolioError([Problem("$.file", f"the multipart body cannot be read: {exc.detail}")]) from None
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise PortfolioError([Problem("$.file", "the multipart body has no file field named 'file'")])
        kind = kind_of(upload.filename, upload.content_type)
        if kind is None:
            raise HTTPException(415, f"the upload {upload.filename!r} is neither an .xlsx workbook nor a .csv file")
        return await upload.read(), kind, upload.filename
    kind = kind_of(None, media)
    if kind is None:
        raise HTTPException(415, "send text/csv, the xlsx media type or multipart/form-data")
    return await request.body(), kind, None


@router.get(
    "/imports/template",
    summary="Download the backlog workbook template",
    response_class=Response,
    responses={200: {"description": "The template (.xlsx)", "content": {XLSX_MEDIA_TYPE: BINARY}}},
)
async def template(caller: Viewer) -> Response:
    """Every sheet with its headers, a note on each header, an example row, and a `notes` sheet."""
    data = await run_in_threadpool(template_workbook)
    return Response(data, media_type=XLSX_MEDIA_TYPE, headers=_attachment("backlog-template.xlsx"))


def _attachment(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}
