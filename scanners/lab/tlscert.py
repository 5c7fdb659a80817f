"""Self-signed certificates generated at run time (cached per subject)."""

from __future__ import annotations

import datetime as dt
import functools
import ssl
import tempfile
from pathlib import Path


@functools.lru_cache(maxsize=64)
def certificate_pem(subject: str, days: int = 3650) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) for a self-signed RSA certificate with this RFC 4514 subject."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name.from_rfc4514_string(subject)
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=days))
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@functools.lru_cache(maxsize=64)
def server_context(subject: str, days: int = 3650) -> ssl.SSLContext:
    cert_pem, key_pem = certificate_pem(subject, days)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # load_cert_chain only reads files; they are deleted right after loading.
    with tempfile.TemporaryDirectory(prefix="es-lab-tls-") as tmp:
        cert_file, key_file = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        cert_file.write_bytes(cert_pem)
        key_file.write_bytes(key_pem)
        context.load_cert_chain(cert_file, key_file)
    return context
