"""Translated display names of models and their fields, kept out of migrations.

Django records a model's Meta `verbose_name` / `verbose_name_plural` and a field's explicit
`verbose_name` in the migration state, so declaring them where they used to be derived
would need a migration that changes nothing in the database, and another one for every
rewording or new translation. The admin reads them at run time, from `Model._meta` and
the field object, so the models modules set them there, right after the classes
(`display_names(...)`). `makemigrations` keeps seeing the names Django derived.

Help texts and choice labels stay declared in place: wrapped in gettext_lazy they compare
equal to the same English text, so the migration state does not change.

Usage, at the end of a models module:

    display_names(Station, _("station"), _("stations"), {
        "identity": _("identity"), ...
    })
"""

from __future__ import annotations

from django.db import models


def display_names(model: type[models.Model], name, plural, fields: dict | None = None) -> None:
    """Set `model`'s singular and plural names and the verbose names of `fields`
    (field name → label), all normally gettext_lazy strings."""
    opts = model._meta
    opts.verbose_name = name
    opts.verbose_name_plural = plural
    for field_name, label in (fields or {}).items():
        opts.get_field(field_name).verbose_name = label
