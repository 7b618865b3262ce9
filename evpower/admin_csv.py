"""CSV export of an admin list: the rows the page shows, all of them, as a spreadsheet.

`CsvExportMixin`, mixed into a ModelAdmin before the theme's `ModelAdmin`, adds
`<changelist>/export.csv?<the page's query string>` and an "Export CSV" button
(`data-role="export-csv"`) to the list. The rows come from the list's own `ChangeList`,
so filters, search, date drill-down, ordering and owner scoping
(`accounts.admin_scoping`) are the page's; pagination is not (every matching row).

Columns are declared per admin in `csv_fields`: (header, accessor) pairs, the accessor a
field path ("station__identity") or a function of the row. To-one relations named in
paths are joined (select_related), so the export runs the same few queries for ten rows
or a million; a function accessor must not query either (the query-count test checks).

Cells: money and other numbers as plain decimal strings (currency in its own column),
datetimes ISO 8601 in UTC, booleans true/false, None empty. Text that a spreadsheet would
run as a formula (starting with = + - @ tab or CR) gets a leading apostrophe: order ids,
phones, details and charger strings come from outside. Our own numbers are never
prefixed — a negative Decimal like "-12.50" is a number to Excel, not a formula, and an
apostrophe would turn it into text finance cannot sum. A phone "+996…" comes out as
"'+996…", which Excel keeps as text instead of turning it into 9.97E+11.

The file is UTF-8 with a BOM (Excel then reads Cyrillic right) and streams: under ASGI
(production) as an async iterator, each chunk fetched in the request's DB thread, since
Django would otherwise read a plain iterator whole into memory first. Who may export:
whoever has the model's view permission (an action permission that merely shows the
list is not enough). Each export is logged with the user and the row count.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth import get_permission_codename
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.core.handlers.asgi import ASGIRequest
from django.db.models import Model, QuerySet
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from evpower.spreadsheet import formula_safe

log = logging.getLogger("evpower.admin")

ROWS_PER_FETCH = 500  # rows per database round trip, and per chunk sent
BOM = "\ufeff"

Accessor = str | Callable[[Any], Any]


def csv_cell(value: Any) -> str:
    """One value as CSV text (see the module docstring for the rules)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")  # never 1E+3: a plain decimal string
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime):
        if timezone.is_naive(value):
            return value.isoformat(timespec="seconds")
        return value.astimezone(UTC).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return formula_safe(str(value))


def related_paths(model: type[Model], accessors: Sequence[Accessor]) -> list[str]:
    """The to-one relations the field paths among `accessors` go through, for
    select_related. A path through a to-many relation is refused: it would be a query
    per row."""
    joins = set()
    for accessor in accessors:
        if not isinstance(accessor, str):
            continue
        current, parts = model, accessor.split("__")
        for depth, part in enumerate(parts[:-1], start=1):
            try:
                field = current._meta.get_field(part)
            except FieldDoesNotExist as exc:
                raise ValueError(f"csv_fields of {model.__name__}: {accessor!r}") from exc
            if not (field.many_to_one or field.one_to_one):
                raise ValueError(
                    f"csv_fields of {model.__name__}: {accessor!r} goes through a to-many relation"
                )
            joins.add("__".join(parts[:depth]))
            current = field.related_model
    return sorted(joins)


def _value(obj: Any, accessor: Accessor) -> Any:
    if callable(accessor):
        return accessor(obj)
    for part in accessor.split("__"):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


class _Echo:
    """The pseudo-buffer csv.writer writes to: each row comes back as text."""

    def write(self, value: str) -> str:
        return value


def csv_chunks(
    queryset: QuerySet,
    fields: Sequence[tuple[Any, Accessor]],
    *,
    on_done: Callable[[int, bool], None],
) -> Iterator[str]:
    """The header and rows of `queryset` as CSV text, a few hundred rows per chunk.
    `on_done(rows, complete)` runs at the end, or when the download is abandoned."""
    writer = csv.writer(_Echo())
    accessors = [accessor for _header, accessor in fields]
    rows, complete = 0, False
    try:
        yield BOM + writer.writerow([str(header) for header, _accessor in fields])
        chunk = []
        for obj in queryset.iterator(chunk_size=ROWS_PER_FETCH):
            chunk.append(writer.writerow([csv_cell(_value(obj, a)) for a in accessors]))
            rows += 1
            if len(chunk) == ROWS_PER_FETCH:
                yield "".join(chunk)
                chunk = []
        if chunk:
            yield "".join(chunk)
        complete = True
    finally:
        on_done(rows, complete)


async def _async_chunks(chunks: Iterator[str]):
    """`chunks` for an ASGI server, pulled one at a time in the request's thread (the
    one holding its database connection and server-side cursor)."""
    done = object()
    pull = sync_to_async(lambda: next(chunks, done), thread_sensitive=True)
    try:
        while (chunk := await pull()) is not done:
            yield chunk
    finally:
        await sync_to_async(chunks.close, thread_sensitive=True)()


class CsvExportMixin:
    """Adds the CSV export of the current list to a ModelAdmin (see the module docstring)."""

    csv_fields: Sequence[tuple[Any, Accessor]] = ()

    def get_csv_fields(self, request) -> Sequence[tuple[Any, Accessor]]:
        return self.csv_fields

    def has_export_permission(self, request) -> bool:
        opts = self.model._meta
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('view', opts)}")

    def get_urls(self):
        opts = self.model._meta
        own = [
            path(
                "export.csv",
                self.admin_site.admin_view(self.export_csv_view),
                name=f"{opts.app_label}_{opts.model_name}_export_csv",
            )
        ]
        return own + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        # the theme draws `actions_list` as the buttons above the list; its own entries
        # link to a fixed URL, ours carries the page's query string (its filters)
        if (
            isinstance(response, TemplateResponse)
            and response.context_data is not None
            and "cl" in response.context_data
            and not response.context_data.get("is_popup")
            and self.has_export_permission(request)
        ):
            opts = self.model._meta
            url = reverse(f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_export_csv")
            query = request.GET.urlencode()
            response.context_data["actions_list"] = [
                *(response.context_data.get("actions_list") or []),
                {
                    "title": _("Export CSV"),
                    "icon": "download",
                    "path": f"{url}?{query}" if query else url,
                    "attrs": {
                        "data-role": "export-csv",
                        "title": _("Download every row of this list, as filtered, as CSV"),
                    },
                },
            ]
        return response

    def export_csv_view(self, request):
        if not self.has_export_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseBadRequest(str(_("This list's filters are not valid.")))
        fields = self.get_csv_fields(request)
        queryset = changelist.queryset.select_related(
            *related_paths(self.model, [accessor for _header, accessor in fields])
        )
        opts, user = self.model._meta, request.user.get_username()

        def done(rows: int, complete: bool) -> None:
            log.info(
                "csv export of %s by %s: %s row(s)%s; query %r",
                opts.label,
                user,
                rows,
                "" if complete else " (download abandoned)",
                request.GET.urlencode(),
            )

        chunks = csv_chunks(queryset, fields, on_done=done)
        response = StreamingHttpResponse(
            _async_chunks(chunks) if isinstance(request, ASGIRequest) else chunks,
            content_type="text/csv; charset=utf-8",
        )
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="{opts.model_name}-{stamp}.csv"'
        return response
