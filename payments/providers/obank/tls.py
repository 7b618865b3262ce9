"""Mutual TLS for OBANK: the `ssl.SSLContext` every call to the bank goes through.

- Our client certificate is a PKCS#12 file (`settings.OBANK["cert_path"]`), its password
  from the environment only (`settings.OBANK["cert_password"]`, OBANK_CERT_PASSWORD). It is
  opened with `cryptography`; the standard library cannot load PKCS#12 and
  `SSLContext.load_cert_chain` only reads files, so the key and chain are written for the
  length of that one call to a private temp file (0600, removed at once), the key itself
  encrypted there with a one-time random passphrase: the clear key never touches the disk.
- The bank's server certificate is ALWAYS verified, host name included: against the
  system's CAs, or `settings.OBANK["ca_path"]` when set. There is no switch to turn it off.
- Anything wrong with that configuration (no file, wrong password, not PKCS#12, an expired
  certificate, an unreadable CA file) raises `ObankConfigurationError`, a
  `ProviderUnavailable` with a message that names the problem but never the password, so
  a top-up answers PAYMENT_PROVIDER_ERROR instead of crashing.

The context is built once per configuration (path, file modification time, password, CA)
and shared by the threads of the process; a renewed certificate file is picked up by its
new modification time.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import ssl
import tempfile
import threading
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from django.conf import settings

from ..base import ProviderUnavailable


class ObankConfigurationError(ProviderUnavailable):
    """The OBANK client certificate or CA configuration is unusable (message has no secret)."""


_lock = threading.Lock()
_cache: dict[tuple, ssl.SSLContext] = {}


def _stamp(path: str) -> tuple:
    try:
        info = os.stat(path)
    except OSError:
        return (path, None)
    return (path, info.st_mtime_ns, info.st_size)


def ssl_context() -> ssl.SSLContext:
    """The client context for the configured certificate (cached per configuration)."""
    conf = settings.OBANK
    cert_path = conf.get("cert_path") or ""
    password = conf.get("cert_password") or ""
    ca_path = conf.get("ca_path") or ""
    if not cert_path:
        raise ObankConfigurationError("obank: no client certificate configured (OBANK_CERT_PATH)")
    key = (
        _stamp(cert_path),
        _stamp(ca_path) if ca_path else None,
        hashlib.sha256(password.encode()).hexdigest(),
    )
    with _lock:
        context = _cache.get(key)
        if context is None:
            context = build_context(cert_path=cert_path, password=password, ca_path=ca_path)
            _cache.clear()  # one configuration at a time: drop the old one
            _cache[key] = context
        return context


def build_context(*, cert_path: str, password: str, ca_path: str = "") -> ssl.SSLContext:
    try:
        with open(cert_path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise ObankConfigurationError(
            f"obank: client certificate file cannot be read ({exc.strerror})"
        ) from None
    try:
        private_key, certificate, chain = pkcs12.load_key_and_certificates(
            data, password.encode() if password else None
        )
    except (ValueError, TypeError):
        raise ObankConfigurationError(
            "obank: client certificate cannot be opened: wrong password "
            "(OBANK_CERT_PASSWORD) or not a PKCS#12 file"
        ) from None
    if private_key is None or certificate is None:
        raise ObankConfigurationError(
            "obank: the PKCS#12 file holds no private key and certificate"
        )
    expires = certificate.not_valid_after_utc
    if expires <= datetime.now(UTC):
        raise ObankConfigurationError(f"obank: client certificate expired on {expires.isoformat()}")

    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_path or None)
    except (OSError, ssl.SSLError) as exc:
        raise ObankConfigurationError(
            f"obank: CA file cannot be loaded ({type(exc).__name__})"
        ) from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # create_default_context already does both; stated here because it must never change
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    _load_client_certificate(context, private_key, certificate, chain or [])
    return context


def _load_client_certificate(
    context: ssl.SSLContext,
    private_key,
    certificate: x509.Certificate,
    chain: list[x509.Certificate],
) -> None:
    one_time = secrets.token_urlsafe(32)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(one_time.encode()),
    )
    for cert in (certificate, *chain):
        pem += cert.public_bytes(serialization.Encoding.PEM)
    fd, path = tempfile.mkstemp(prefix="obank-", suffix=".pem")  # created 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        context.load_cert_chain(path, password=one_time)
    except (OSError, ssl.SSLError) as exc:
        raise ObankConfigurationError(
            f"obank: client certificate cannot be used ({type(exc).__name__})"
        ) from None
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
