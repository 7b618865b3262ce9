"""What the support commands of several apps need from accounts."""

from __future__ import annotations

from evpower.management_support import Exit, SupportError, not_found

from ..models import Client


def client_by_ref(ref: str):
    """A client by phone ("+996700123456") or id ("42")."""
    ref = ref.strip()
    if ref.startswith("+"):
        client = Client.objects.filter(phone=ref).first()
    elif ref.isdigit():
        client = Client.objects.filter(pk=int(ref)).first()
    else:
        raise SupportError(
            f"{ref!r} is neither a phone (+996...) nor a client id",
            code="INVALID_CLIENT",
            returncode=Exit.USAGE,
        )
    if client is None:
        raise not_found(f"client {ref}")
    return client
