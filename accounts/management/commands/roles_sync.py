"""python manage.py roles_sync"""

from __future__ import annotations

from accounts.roles import ROLE_PERMISSIONS, UnknownPermission, roles_sync
from evpower.management_support import SupportCommand, SupportError


class Command(SupportCommand):
    help = f"""Create the staff role groups ({", ".join(ROLE_PERMISSIONS)}) and set each
one's permissions to exactly what accounts/roles.py lists. Safe to run again, e.g. after a
deploy that added models or permissions; permissions added to these groups by hand are
removed (give a person extra rights on their own account instead)."""
    examples = ("",)
    asks_confirmation = False

    def handle(self, *args, **options):
        try:
            counts = roles_sync()
        except UnknownPermission as exc:
            raise SupportError(str(exc), code="NOT_MIGRATED") from exc
        for role, count in counts.items():
            self.done(f"{role}: {count} permission(s)")
