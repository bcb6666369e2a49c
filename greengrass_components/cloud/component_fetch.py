"""What a cloud deployment needs on disk before the core can apply it, fetched the way the nucleus
fetches it: each component version's recipe from Greengrass (GetComponent) and each artifact from S3,
laid out as a local deployment takes them (`<recipes>/<name>-<version>.json`,
`<artifacts>/<name>/<version>/<file>`). The core checks each artifact's digest when it installs it."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any


def fetch_components(
    document: dict[str, Any],
    greengrass: Any,
    s3: Any,
    recipes: Path,
    artifacts: Path,
    account: str,
    region: str,
) -> None:
    recipes.mkdir(parents=True, exist_ok=True)
    for name, spec in document["components"].items():
        version = str(spec["version"])
        arn = f"arn:aws:greengrass:{region}:{account}:components:{name}:versions:{version}"
        answer = greengrass.get_component(arn=arn, recipeOutputFormat="JSON")
        raw = answer["recipe"]
        text = raw if isinstance(raw, bytes) else base64.b64decode(raw)
        recipe = json.loads(text)
        (recipes / f"{name}-{version}.json").write_bytes(text)
        for manifest in recipe.get("Manifests") or []:
            for artifact in manifest.get("Artifacts") or []:
                uri = str(artifact.get("URI", ""))
                if not uri.startswith("s3://"):
                    continue
                bucket, _, key = uri.removeprefix("s3://").partition("/")
                target = artifacts / name / version / key.rsplit("/", 1)[-1]
                if target.exists():
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                target.write_bytes(body)
