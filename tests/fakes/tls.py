"""Test certificates made on the fly in a test's folder: the project's own CA code, kept for a day.

AWS IoT Core authenticates a device by its X.509 client certificate over TLS on 8883. These let a test
run the same handshake against a local broker without committing any key.
"""

from __future__ import annotations

from pathlib import Path

from edgeway_common import certificates
from edgeway_common.certificates import Credentials

__all__ = ["CertificateAuthority", "Credentials"]


class CertificateAuthority(certificates.CertificateAuthority):
    def __init__(self, directory: Path, name: str = "edgeway test CA") -> None:
        super().__init__(directory, name, days=1)
