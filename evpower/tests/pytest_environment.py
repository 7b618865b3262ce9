"""The environment of every test process and of the servers and workers the tests start.

pytest.ini loads this as a plugin (`-p`), which pytest imports before pytest-django reads the
settings, so the settings see these variables; subprocesses inherit them.

Django's default password hasher is slow on purpose (PBKDF2 at 1,000,000 iterations: about
0.2 s a hash on a CI core), and the suite hashes some 900 staff and client passwords and
verifies logins in its servers. Tests hash with MD5 instead, as Django's documentation
advises for test runs; production refuses it (evpower/security.py).

The demo's environment file (.run/demo.env, see evpower/settings.py) is switched off.
"""

import os

os.environ.setdefault("PASSWORD_HASHERS", "django.contrib.auth.hashers.MD5PasswordHasher")

# A demo running on the same checkout (scripts/run.sh) leaves .run/demo.env for other shells;
# the tests choose their own services.
os.environ.setdefault("EVPOWER_DEMO_ENV_FILE", "")
