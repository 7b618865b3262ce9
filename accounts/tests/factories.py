"""factory_boy factories of accounts' models. Plain rows: a client has no wallet until the
money services make one (payments.wallet)."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from factory.django import DjangoModelFactory, Password

from accounts.models import Client


class ClientFactory(DjangoModelFactory):
    class Meta:
        model = Client

    phone = factory.Sequence(lambda n: f"+99655{n + 1:07d}")


class StaffUserFactory(DjangoModelFactory):
    """An active staff member (no role group: add one, or use the root conftest's
    `staff_in`, which logs one in)."""

    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"staff{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.kg")
    password = Password("pw-0123456789")
    is_staff = True
