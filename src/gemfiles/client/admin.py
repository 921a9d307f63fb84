"""The admin API of a running gemfiles server (``/_internal/admin/...``), for ``gemfiles projects``,
``gemfiles keys`` and ``gemfiles scrub`` with ``--server URL --admin-token T``."""

from __future__ import annotations

from typing import Any

import httpx

from gemfiles.client.failures import ClientFailure


class AdminFailure(ClientFailure):
    """The server refused an admin call (its error message, and exit code 1, or 3 for a bad token)."""


class AdminApi:
    def __init__(self, server: str, token: str, timeout: float = 30.0) -> None:
        self.server = server.rstrip("/")
        self.http = httpx.Client(
            base_url=f"{self.server}/_internal/admin",
            headers={"authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    def __enter__(self) -> AdminApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def projects(self) -> dict[str, Any]:
        return self._call("GET", "/projects")

    def set_quota(self, project: str, quota_bytes: int | None) -> dict[str, Any]:
        value = None if quota_bytes is None else str(quota_bytes)
        return self._call("PUT", f"/projects/{project}/quota", json={"quotaBytes": value})

    def keys(self) -> dict[str, Any]:
        return self._call("GET", "/keys")

    def create_key(self, project: str) -> dict[str, Any]:
        return self._call("POST", "/keys", json={"project": project})

    def revoke_key(self, prefix: str) -> dict[str, Any]:
        return self._call("DELETE", f"/keys/{prefix}")

    def scrub(self, grace_seconds: float | None, dry_run: bool, all_keys: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"dryRun": dry_run, "allKeys": all_keys}
        if grace_seconds is not None:
            body["graceSeconds"] = grace_seconds
        return self._call("POST", "/scrub", json=body)

    def _call(self, method: str, path: str, json: Any = None) -> dict[str, Any]:
        try:
            response = self.http.request(method, path, json=json)
        except httpx.HTTPError as exc:
            raise AdminFailure(f"{self.server}: {type(exc).__name__}: {exc}") from None
        if response.status_code != 200:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:200]
            failure = AdminFailure(f"{response.status_code}: {message}")
            failure.exit_code = 3 if response.status_code in (401, 403) else 1
            raise failure
        return dict(response.json())
