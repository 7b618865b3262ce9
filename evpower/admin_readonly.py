"""Admin building blocks for records nobody edits by hand (logs, charger facts)."""

from __future__ import annotations

from django.forms.models import BaseInlineFormSet


class ReadOnlyPermissions:
    """Mixed into a ModelAdmin or an inline: viewable, never added, changed or deleted."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def latest_rows_formset(count: int) -> type[BaseInlineFormSet]:
    """An inline formset showing only the newest `count` rows. The slice is taken once,
    after the formset has filtered by parent (a sliced queryset can't be filtered)."""

    class LatestRows(BaseInlineFormSet):
        def get_queryset(self):
            if not hasattr(self, "_latest"):
                self._latest = super().get_queryset()[:count]
            return self._latest

    return LatestRows
