"""Owner scoping: a staff member in the "owner" group (and not a superuser) sees only what
belongs to the locations they own (`Location.owner`).

`OWNER_PATHS` is the one place saying how each scoped model reaches its owner;
`scope_queryset` applies it to any queryset (the admin here, and any other staff screen
that needs it). `OwnerScopedAdmin`, mixed into a ModelAdmin before `admin.ModelAdmin`,
scopes what a scoped user lists, opens (another owner's row answers 404), picks in
foreign-key dropdowns and list filters, and makes `scoped_readonly_fields` read-only
for them. Operators, support and finance are not scoped.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.db.models import Model, Q, QuerySet
from django.http import Http404

from accounts.roles import OWNER

# "app_label.model" → lookups to the owning user (any of them may match)
OWNER_PATHS: dict[str, tuple[str, ...]] = {
    "stations.location": ("owner",),
    "stations.station": ("location__owner",),
    "stations.connector": ("station__location__owner",),
    "stations.devicevariable": ("station__location__owner",),
    "stations.stationevent": ("station__location__owner",),
    "stations.chargerreport": ("station__location__owner",),
    "stations.tariffassignment": ("location__owner", "station__location__owner"),
    "charging.chargingsession": ("station__location__owner",),
    "charging.ocpptransaction": ("station__location__owner",),
}


def is_owner_scoped(user) -> bool:
    """Whether `user` sees only their own locations' data. Cached on the user object,
    i.e. once per request."""
    if not getattr(user, "is_authenticated", False) or user.is_superuser:
        return False
    if not hasattr(user, "_evpower_owner_scoped"):
        user._evpower_owner_scoped = user.groups.filter(name=OWNER).exists()
    return user._evpower_owner_scoped


def owner_q(model: type[Model], user) -> Q | None:
    """The filter keeping `model`'s rows owned by `user`; None if `model` is not scoped."""
    paths = OWNER_PATHS.get(model._meta.label_lower)
    if paths is None:
        return None
    condition = Q()
    for path in paths:
        condition |= Q(**{path: user})
    return condition


def scope_queryset(queryset: QuerySet, user) -> QuerySet:
    """`queryset` as `user` may see it."""
    if not is_owner_scoped(user):
        return queryset
    condition = owner_q(queryset.model, user)
    return queryset if condition is None else queryset.filter(condition)


class ScopedRelatedFieldListFilter(admin.RelatedFieldListFilter):
    """A related-object list filter offering only the rows the user may see (the plain
    one lists every location's name)."""

    def field_choices(self, field, request, model_admin):
        ordering = self.field_admin_ordering(field, request, model_admin)
        condition = owner_q(field.related_model, request.user)
        return field.get_choices(include_blank=False, ordering=ordering, limit_choices_to=condition)


class OwnerScopedAdmin:
    """Mixin for the ModelAdmin of a model in `OWNER_PATHS`."""

    scoped_readonly_fields: tuple[str, ...] = ()  # e.g. who owns a location

    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), request.user)

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None and is_owner_scoped(request.user):
            raise Http404  # not "doesn't exist, perhaps deleted": it is simply not theirs
        return obj

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        condition = (
            owner_q(db_field.related_model, request.user) if is_owner_scoped(request.user) else None
        )
        if condition is not None:
            queryset = kwargs.get("queryset", db_field.related_model._default_manager.all())
            kwargs["queryset"] = queryset.filter(condition)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_list_filter(self, request):
        filters = super().get_list_filter(request)
        if not is_owner_scoped(request.user):
            return filters
        return [
            (item, ScopedRelatedFieldListFilter) if self._is_scoped_relation(item) else item
            for item in filters
        ]

    def get_readonly_fields(self, request, obj=None):
        fields = tuple(super().get_readonly_fields(request, obj))
        if is_owner_scoped(request.user):
            fields += tuple(f for f in self.scoped_readonly_fields if f not in fields)
        return fields

    def _is_scoped_relation(self, item) -> bool:
        # a path too ("station__location"): its last field is what the filter lists
        if not isinstance(item, str):
            return False
        field = get_fields_from_path(self.model, item)[-1]
        return field.is_relation and field.related_model._meta.label_lower in OWNER_PATHS
