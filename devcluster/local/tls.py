"""Self-signed certificate for the ingress hostname, made with `cryptography`.

Generated in-process (no openssl on PATH needed) and kept in the state dir so
re-runs reuse the same certificate: browsers that trusted it once keep
trusting it, and the TLS secret does not churn.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from devcluster.local.state import write_private


@dataclass(frozen=True)
class CertPair:
    cert_pem: bytes
    key_pem: bytes


def sans_for(hostname: str) -> list[str]:
    return [hostname, f"*.{hostname}"]


def generate(hostname: str, days: int = 365) -> CertPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in sans_for(hostname)]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return CertPair(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ),
    )


def cert_sans(cert_pem: bytes) -> list[str]:
    """The DNS names the certificate is for; none when it has no SAN extension (a CN-only certificate,
    which browsers reject for the hostname anyway)."""
    return _dns_names(x509.load_pem_x509_certificate(cert_pem))


def _dns_names(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return list(ext.value.get_values_for_type(x509.DNSName))


def cert_problem(cert_pem: bytes, hostname: str, margin_days: int = 7) -> str | None:
    """Why the certificate will not do for ``hostname`` (in words, for `status`), or None when it will."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        return "not a PEM certificate"
    expires = cert.not_valid_after_utc
    soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=margin_days)
    if expires <= soon:
        return f"expires {expires:%Y-%m-%d} (within {margin_days} days)"
    names = _dns_names(cert)
    missing = [n for n in sans_for(hostname) if n not in names]
    if missing:
        return f"issued for {', '.join(names) or 'no DNS name'}, not {', '.join(missing)}"
    return None


def cert_still_valid(cert_pem: bytes, hostname: str, margin_days: int = 7) -> bool:
    return cert_problem(cert_pem, hostname, margin_days) is None


def load_or_create(directory: Path, hostname: str) -> CertPair:
    """Reuse the stored pair while it is valid for ``hostname``; otherwise make a new one."""
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    if cert_path.is_file() and key_path.is_file():
        pair = CertPair(cert_path.read_bytes(), key_path.read_bytes())
        if cert_still_valid(pair.cert_pem, hostname):
            return pair
    pair = generate(hostname)
    write_private(key_path, pair.key_pem)
    write_private(cert_path, pair.cert_pem)
    return pair
