"""python manage.py staff_2fa_setup <username> [--backup-codes N] [--yes]"""

from __future__ import annotations

import io

import qrcode
from django_otp import devices_for_user

from accounts.staff_2fa import staff_2fa_enrol
from evpower.management_support import SupportCommand, staff_user_named


class Command(SupportCommand):
    help = """Enrol a staff member for two-factor admin login (ADMIN_REQUIRE_2FA), or rotate
their key. Prints an otpauth:// link and the same as a QR code to scan with an
authenticator app (Google Authenticator, FreeOTP, 1Password...), and single-use backup
codes for a lost phone. Any earlier authenticator and backup codes stop working at once.
The output is a secret: run it where only that person sees it."""
    examples = ("alice", "alice --backup-codes 10 --yes")

    def add_arguments(self, parser):
        parser.add_argument("username", help="the staff user's username")
        parser.add_argument(
            "--backup-codes",
            type=int,
            default=5,
            choices=range(0, 21),
            metavar="N",
            help="how many backup codes (0-20, default 5)",
        )

    def handle(self, *args, username: str, backup_codes: int, **options):
        user = staff_user_named(username)
        if any(devices_for_user(user, confirmed=None)):
            self.confirm(
                f"{username} already has a second factor; replace it (the old "
                "authenticator and backup codes stop working)?"
            )
        enrolment = staff_2fa_enrol(user=user, backup_codes=backup_codes)
        self.say(f"Authenticator for {username}: scan the code, or add this link:")
        self.say(enrolment.otpauth_uri)
        self.say(_ascii_qr(enrolment.otpauth_uri))
        if enrolment.backup_codes:
            self.say(
                "Backup codes (each works once; choose 'backup codes' as the device "
                "on the login page):"
            )
            for code in enrolment.backup_codes:
                self.say(f"  {code}")
        self.done(f"{username} is enrolled: the admin login asks for the app's 6-digit code.")


def _ascii_qr(data: str) -> str:
    code = qrcode.QRCode(border=2)
    code.add_data(data)
    text = io.StringIO()  # Django's stdout adds a newline to every write: draw it whole
    code.print_ascii(out=text)
    return text.getvalue()
