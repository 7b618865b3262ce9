"""Admin list filters shared by the apps.

Django's default filter for a field without choices runs SELECT DISTINCT over the whole
table on every changelist page; on the log and meter tables that is a full scan. OCPP
values (actions, measurands, reasons) are known in advance, so these filters offer a
fixed list and cost no query.

`DayRangeFilter`: "from day … to day" on a date or datetime field, both days included
(a finance month, an incident's days). Use it as `("created_at", DayRangeFilter)` on an
admin with `list_filter_submit = True` (the theme's Apply button for typed filters).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.contrib import admin
from django.db.models import DateTimeField
from django.utils import timezone
from unfold.contrib.filters.admin import RangeDateFilter
from unfold.utils import parse_date_str


def fixed_values_filter(
    field: str, values: Iterable[str | tuple[str, str]], title: str | None = None
) -> type[admin.SimpleListFilter]:
    """A filter on `field` offering `values` (plain values or (value, label) pairs)."""
    choices = tuple(v if isinstance(v, tuple) else (v, v) for v in values)

    class FixedValuesFilter(admin.SimpleListFilter):
        parameter_name = field

        def lookups(self, request, model_admin):
            return choices

        def queryset(self, request, queryset):
            if self.value() is None:
                return queryset
            return queryset.filter(**{field: self.value()})

    FixedValuesFilter.title = title or field.replace("_", " ")
    FixedValuesFilter.__name__ = FixedValuesFilter.__qualname__ = f"{field.title()}Filter"
    return FixedValuesFilter


class DayRangeFilter(RangeDateFilter):
    """The theme's date range, with whole days on a datetime field: its own compares the
    datetime with a bare date, i.e. midnight at the start of the "to" day, so that day
    was left out (and Django warned about a naive datetime). Days are the current time
    zone's, like the date drill-down's; the bounds are index-friendly (no ::date cast)."""

    def queryset(self, request, queryset):
        start, end = self._day("_from"), self._day("_to")
        if isinstance(self.field, DateTimeField):
            bounds = {
                f"{self.field_path}__gte": start and _midnight(start),
                f"{self.field_path}__lt": end and _midnight(end + datetime.timedelta(days=1)),
            }
        else:
            bounds = {f"{self.field_path}__gte": start, f"{self.field_path}__lte": end}
        return queryset.filter(**{k: v for k, v in bounds.items() if v is not None})

    def _day(self, suffix: str) -> datetime.date | None:
        value = self.used_parameters.get(self.parameter_name + suffix)
        return parse_date_str(value) if isinstance(value, str) and value else None


def _midnight(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
