"""Admin list filters shared by the apps.

Django's default filter for a field without choices runs SELECT DISTINCT over the whole
table on every changelist page; on the log and meter tables that is a full scan. OCPP
values (actions, measurands, reasons) are known in advance, so these filters offer a
fixed list and cost no query.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib import admin


def fixed_values_filter(field: str, values: Iterable[str | tuple[str, str]],
                        title: str | None = None) -> type[admin.SimpleListFilter]:
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

