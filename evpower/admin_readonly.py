"""Admin building blocks for records nobody edits by hand (logs, charger facts)."""

from __future__ import annotations

import functools
import json

from django.forms.models import BaseInlineFormSet
from django.utils.html import format_html


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


def computed_once(method):
    """For a ModelAdmin method shown as a read-only field that runs queries: the theme
    (django-unfold) resolves each read-only field when it builds it, and builds the
    fields of a row more than once, so the method would run (and query) three times per
    page. The first result is kept on the object being shown, for this request only."""
    key = f"_admin_once_{method.__name__}"

    @functools.wraps(method)
    def once(self, obj):
        if obj is None or obj.pk is None:
            return method(self, obj)
        if key not in obj.__dict__:
            obj.__dict__[key] = method(self, obj)
        return obj.__dict__[key]

    return once


def pretty_json(text: str):
    """A JSON document indented for reading on an admin page."""
    try:
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        pass  # not JSON (a malformed frame): show it as received
    return format_html('<pre style="white-space: pre-wrap">{}</pre>', text)
