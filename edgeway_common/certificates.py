"""X.509 for the local stand-ins: a certificate authority kept in a folder, which issues server
certificates (for loopback and named hosts) and client certificates whose subject's common name is
the thing name, as IoT Core and Greengrass's client device auth identify a device.

Two users: the cloud stand-in (its CA signs thing certificates and its discovery server's certificate)
and the core's local broker (its own CA signs the broker's server certificate; discovery hands that CA
to devices as the group CA). Private keys are written owner-only and never leave their folder.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOOPBACK = ("localhost", "127.0.0.1")


@dataclass(frozen=True)
class Credentials:
    cert: Path
    key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def common_name(certificate: bytes) -> str:
    """The subject's common name of a DER or PEM certificate ("" when it has none)."""
    cert = (
        x509.load_pem_x509_certificate(certificate)
        if certificate.lstrip().startswith(b"-----")
        else x509.load_der_x509_certificate(certificate)
    )
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = names[0].value if names else ""
    return value.decode() if isinstance(value, bytes) else str(value)


class CertificateAuthority:
    """The CA in `directory` (`ca.pem`, `ca.key`): loaded when it is there, made when it is not."""

    def __init__(self, directory: Path, name: str = "edgeway local CA", days: int = 3650) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory, self.days = directory, days
        self.ca = directory / "ca.pem"
        key_path = directory / "ca.key"
        if self.ca.exists() and key_path.exists():
            self._cert = x509.load_pem_x509_certificate(self.ca.read_bytes())
            loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if not isinstance(loaded, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{key_path}: not an EC private key")
            self._key = loaded
            return
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._key, hashes.SHA256())
        )
        _write_key(self._key, key_path)
        self.ca.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))

    @property
    def pem(self) -> str:
        return self.ca.read_text()

    def issue(
        self,
        common_name: str,
        *,
        server: bool = False,
        hosts: Sequence[str] = LOOPBACK,
        folder: Path | None = None,
    ) -> Credentials:
        """A key and certificate for `common_name`, written as `<folder>/<common_name>.crt|.key`."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=min(self.days, 825)))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if server:
            names: list[x509.GeneralName] = []
            for host in hosts:
                try:
                    names.append(x509.IPAddress(ipaddress.ip_address(host)))
                except ValueError:
                    names.append(x509.DNSName(host))
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        where = folder or self.directory
        where.mkdir(parents=True, exist_ok=True)
        paths = Credentials(where / f"{common_name}.crt", where / f"{common_name}.key")
        paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key, paths.key)
        return paths
