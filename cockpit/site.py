"""The admin site: Django's, plus a second factor (TOTP) when `ADMIN_REQUIRE_2FA` is on.

Installed as THE default site (`evpower.apps.EvPowerAdminConfig`), so `admin.site` in the
apps is this one. With 2FA required, the login form asks for the authenticator's code
(django-otp's admin form) and only a session verified by a device passes
`has_permission`: a staff member without a confirmed device cannot get in until a
superuser enrols them (`manage.py staff_2fa_setup <name>`). The policy is read on each
request, so tests and a settings change need no new site.

A wrong code counts as a failed login for django-axes, like a wrong password: otherwise
someone holding a password could try codes without ever being locked out.
"""

from __future__ import annotations

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy
from django_otp import devices_for_user
from django_otp.admin import OTPAdminAuthenticationForm
from django_otp.plugins.otp_totp.models import TOTPDevice
from unfold.sites import UnfoldAdminSite
from unfold.widgets import BASE_INPUT_CLASSES

from cockpit.two_factor import two_factor_required

ENROL_HINT = (
    "Two-factor login is required and you have no authenticator yet: ask an "
    "administrator to run `manage.py staff_2fa_setup {username}`."
)


class ThemedFields:
    """The theme's input look on every field of a login form (ours has one more field
    than the theme's own form, the authenticator's code)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget.attrs["class"] = " ".join(BASE_INPUT_CLASSES)
        self.fields["username"].widget.attrs["autofocus"] = ""
        if "otp_token" in self.fields:
            self.fields["otp_token"].widget.attrs.update(
                {"autocomplete": "one-time-code", "inputmode": "numeric"}
            )


class StaffLoginForm(ThemedFields, AdminAuthenticationForm):
    pass


class StaffOtpLoginForm(ThemedFields, OTPAdminAuthenticationForm):
    """Username, password and the authenticator's code on one page.

    django-otp wants the device chosen explicitly; a staff member normally has one
    authenticator, so it is taken when none is chosen (backup codes are picked from the
    device list that the page shows after a failed code)."""

    def clean_otp(self, user) -> None:
        if user is None:
            return  # the password was wrong: axes has counted it already
        if not self.cleaned_data.get("otp_device"):
            authenticator = TOTPDevice.objects.devices_for_user(user, confirmed=True).first()
            if authenticator is not None:
                self.cleaned_data["otp_device"] = authenticator.persistent_id
            elif not any(devices_for_user(user, confirmed=True)):
                raise ValidationError(
                    ENROL_HINT.format(username=user.get_username()), code="no_device"
                )
        try:
            super().clean_otp(user)
        except ValidationError:
            if self.cleaned_data.get("otp_token"):
                user_login_failed.send(
                    sender=type(self),
                    request=self.request,
                    credentials={"username": user.get_username()},
                )
            raise


class EvPowerAdminSite(UnfoldAdminSite):
    site_header = "EvPower administration"
    site_title = "EvPower admin"
    index_title = gettext_lazy("Dashboard")  # the index page is the cockpit's dashboard
    # one page for both policies: it lists whatever fields the form has
    login_template = "admin/evpower_login.html"

    @property
    def login_form(self):
        return StaffOtpLoginForm if two_factor_required() else StaffLoginForm

    @login_form.setter
    def login_form(self, value) -> None:
        pass  # the theme's __init__ sets its own form; ours follows the policy instead

    def has_permission(self, request) -> bool:
        if not super().has_permission(request):
            return False
        return not two_factor_required() or request.user.is_verified()

    def get_urls(self):
        # the cockpit's pages of our own (map, live station view), before the admin's own:
        # its catch-all would answer them. Imported here: the views need the apps' models.
        from cockpit.live import cockpit_urls

        return cockpit_urls(self) + super().get_urls()
