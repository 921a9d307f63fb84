"""Where the client talks to and with which key: flags first, then the variables the SDKs read."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

GOOGLE_BASE_URL = "https://generativelanguage.googleapis.com"
# google-genai's GOOGLE_AI_API_DEFAULT_VERSION (3.x); GOOGLE_GENAI_API_VERSION changes it, "beta" meaning v1beta.
DEFAULT_API_VERSION = "v1"


class ConfigError(Exception):
    """Something the user must supply is malformed: a usage error (exit code 2)."""

    exit_code = 2


class MissingKey(ConfigError):
    """No API key anywhere: an authentication failure (exit code 3)."""

    exit_code = 3


@dataclass(frozen=True)
class Endpoint:
    base_url: str  # no trailing slash; a path prefix is kept, as the SDKs keep it
    api_key: str
    api_version: str  # "" gives version-less paths (/files, /upload/files), as the Python SDK does

    def url(self, path: str) -> str:
        """``path`` under the API version: ``url("files")`` -> ``{base}/v1/files``."""
        version = f"/{self.api_version}" if self.api_version else ""
        return f"{self.base_url}{version}/{path.lstrip('/')}"

    def upload_url(self) -> str:
        version = f"/{self.api_version}" if self.api_version else ""
        return f"{self.base_url}/upload{version}/files"

    @property
    def is_google(self) -> bool:
        return (urlsplit(self.base_url).hostname or "").endswith("googleapis.com")

    @property
    def key_fingerprint(self) -> str:
        """Tells keys apart in the upload state without storing them."""
        return hashlib.sha256(self.api_key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def resolve_endpoint(
    base_url: str | None,
    api_key: str | None,
    api_version: str | None,
    environ: Mapping[str, str] | None = None,
) -> Endpoint:
    """Flags win; then GOOGLE_GEMINI_BASE_URL, GOOGLE_API_KEY (before GEMINI_API_KEY) and
    GOOGLE_GENAI_API_VERSION, as google-genai reads them."""
    env = os.environ if environ is None else environ
    base = (base_url or env.get("GOOGLE_GEMINI_BASE_URL") or GOOGLE_BASE_URL).strip().rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"the base URL must be an http:// or https:// URL, not {base!r}")
    if parts.query or parts.fragment:
        raise ConfigError(f"the base URL must not have a query or fragment: {base!r}")
    key = api_key if api_key is not None else (env.get("GOOGLE_API_KEY") or env.get("GEMINI_API_KEY"))
    if not key or not key.strip():
        raise MissingKey("no API key: set GEMINI_API_KEY (or GOOGLE_API_KEY), or pass --api-key")
    # An empty variable means the default (as in google-genai); an empty flag means version-less paths.
    version = (
        api_version
        if api_version is not None
        else (env.get("GOOGLE_GENAI_API_VERSION") or DEFAULT_API_VERSION)
    )
    version = "v1beta" if version.strip() == "beta" else version.strip().strip("/")
    if version and ("/" in version or "?" in version or "#" in version):
        raise ConfigError(f"the API version must be one path segment such as v1 or v1beta, not {version!r}")
    return Endpoint(base_url=base, api_key=key.strip(), api_version=version)
