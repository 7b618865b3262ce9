"""Test certificates for OBANK's mutual TLS, made with `cryptography`: a bank CA with a server
certificate for 127.0.0.1 / localhost and our client certificate (PKCS#12 with a password);
a rogue CA with its own server and client certificates; an expired client certificate."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

P12_PASSWORD = "p12-Test-Passw0rd-7f3a"


@dataclass(frozen=True)
class Pki:
    ca: Path  # the bank's CA (PEM): signs the bank's server and our client certificate
    server_cert: Path
    server_key: Path
    client_p12: Path  # ours, P12_PASSWORD
    rogue_ca: Path
    rogue_server_cert: Path  # for 127.0.0.1, but signed by the rogue CA
    rogue_server_key: Path
    rogue_client_p12: Path  # signed by the rogue CA, P12_PASSWORD
    expired_client_p12: Path  # signed by the bank CA, expired, P12_PASSWORD
    not_p12: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca(common_name: str):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _leaf(ca_key, ca_cert, common_name: str, *, server: bool, expired: bool = False):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    start, end = (
        (now - timedelta(days=10), now - timedelta(days=1))
        if expired
        else (now - timedelta(days=1), now + timedelta(days=30))
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return key, builder.sign(ca_key, hashes.SHA256())


def _pem(path: Path, *items) -> Path:
    data = b""
    for item in items:
        if isinstance(item, x509.Certificate):
            data += item.public_bytes(serialization.Encoding.PEM)
        else:
            data += item.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
    path.write_bytes(data)
    return path


def _p12(path: Path, key, cert, ca_cert) -> Path:
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"evpower",
            key,
            cert,
            [ca_cert],
            serialization.BestAvailableEncryption(P12_PASSWORD.encode()),
        )
    )
    return path


def make_pki(directory: Path) -> Pki:
    ca_key, ca_cert = _ca("OBANK Test CA")
    server_key, server_cert = _leaf(ca_key, ca_cert, "127.0.0.1", server=True)
    client_key, client_cert = _leaf(ca_key, ca_cert, "evpower-merchant", server=False)
    old_key, old_cert = _leaf(ca_key, ca_cert, "evpower-merchant", server=False, expired=True)
    rogue_key, rogue_cert = _ca("Rogue CA")
    rogue_server_key, rogue_server_cert = _leaf(rogue_key, rogue_cert, "127.0.0.1", server=True)
    rogue_client_key, rogue_client_cert = _leaf(
        rogue_key, rogue_cert, "evpower-merchant", server=False
    )
    (directory / "not.p12").write_bytes(b"-----BEGIN NOTHING-----\n")
    return Pki(
        ca=_pem(directory / "ca.pem", ca_cert),
        server_cert=_pem(directory / "server.pem", server_cert),
        server_key=_pem(directory / "server.key", server_key),
        client_p12=_p12(directory / "client.p12", client_key, client_cert, ca_cert),
        rogue_ca=_pem(directory / "rogue-ca.pem", rogue_cert),
        rogue_server_cert=_pem(directory / "rogue-server.pem", rogue_server_cert),
        rogue_server_key=_pem(directory / "rogue-server.key", rogue_server_key),
        rogue_client_p12=_p12(
            directory / "rogue-client.p12", rogue_client_key, rogue_client_cert, rogue_cert
        ),
        expired_client_p12=_p12(directory / "expired-client.p12", old_key, old_cert, ca_cert),
        not_p12=directory / "not.p12",
    )
