"""SIP over TLS: server and client contexts, and a self-signed certificate for first start.

TLS connections are framed and pooled exactly like TCP ones (:mod:`softswitch.transport.tcp`);
this module only builds the :class:`ssl.SSLContext` objects. RFC 3261 §26.2.1 asks for TLS
between servers; RFC 5630 clarifies that ``sips:`` needs TLS hop by hop, which a B2BUA provides
per leg. A switch must come up with TLS working even before the operator installs a real
certificate, so when none is configured a self-signed one is generated into the data directory
at first start and reused afterwards (its fingerprint is stable across restarts, so peers that
pinned it keep working).
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import ssl
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "CERT_FILE",
    "KEY_FILE",
    "client_context",
    "ensure_self_signed",
    "generate_self_signed",
    "server_context",
]

_log = logging.getLogger(__name__)

CERT_FILE = "tls-cert.pem"
KEY_FILE = "tls-key.pem"
_VALID_DAYS = 3650


def server_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """A TLS server context for ``cert_file``/``key_file`` (TLS 1.2 or newer).

    Client certificates are not requested: SIP devices rarely have them, and authentication
    of devices is done by digest (RFC 3261 §22) or by source address.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context


def client_context(verify: bool, cafile: Path | None = None) -> ssl.SSLContext:
    """A TLS client context for outbound connections.

    With ``verify`` the peer's certificate must chain to ``cafile`` (or the system store) and
    match the host name; without it any certificate is accepted (encryption without
    authentication), which is what most carrier trunks with self-signed certificates need.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if verify:
        context.verify_mode = ssl.CERT_REQUIRED
        context.check_hostname = True
        if cafile is not None:
            context.load_verify_locations(cafile)
        else:
            context.load_default_certs()
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def generate_self_signed(
    cert_file: Path, key_file: Path, common_name: str, hosts: Iterable[str]
) -> None:
    """Write a new self-signed certificate (EC P-256, 10 years) and its private key.

    ``hosts`` (IP literals or DNS names) go into subjectAltName, which is what TLS clients
    check. The key file is created readable by its owner only.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    alt_names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt_names.append(x509.DNSName(host))
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key_bytes)
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def ensure_self_signed(directory: Path, hosts: Iterable[str]) -> tuple[Path, Path]:
    """The self-signed certificate and key in ``directory``, generated if absent.

    Returns ``(cert_file, key_file)``. An existing pair is reused as is.
    """
    cert_file, key_file = directory / CERT_FILE, directory / KEY_FILE
    names = ["localhost", *hosts]
    if not (cert_file.exists() and key_file.exists()):
        generate_self_signed(cert_file, key_file, "softswitch", names)
        _log.warning(
            "no TLS certificate configured (SOFTSWITCH_TLS_CERT, SOFTSWITCH_TLS_KEY): generated "
            "a self-signed one for %s in %s (key %s, mode 0600); peers that verify "
            "certificates must trust this file, or configure one signed by a CA",
            ", ".join(names),
            cert_file,
            key_file,
        )
    else:
        _log.info("SIP over TLS uses the self-signed certificate %s", cert_file)
    return cert_file, key_file
