"""``/_internal/faults``: the caller's project's fault plan, set, extended, listed and cleared over REST."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.support import LiveServer


def keyed(key: str) -> dict[str, str]:
    return {"x-goog-api-key": key}


def test_put_then_get_lists_the_plan_with_fire_counts(client: httpx.Client, api_key: str) -> None:
    plan = [{"kind": "chunk_unavailable", "nth": 2}, {"kind": "hold_processing", "seconds": 5}]
    reply = client.put("/_internal/faults", json=plan, headers=keyed(api_key))
    assert reply.status_code == 200
    listed = client.get("/_internal/faults", headers=keyed(api_key)).json()
    assert listed == {
        "faults": [
            {"kind": "chunk_unavailable", "nth": 2, "times": 1},
            {"kind": "hold_processing", "nth": 1, "times": 1, "seconds": 5.0},
        ],
        "fired": [0, 0],
    }


def test_post_appends_and_delete_clears(client: httpx.Client, api_key: str) -> None:
    headers = keyed(api_key)
    client.put("/_internal/faults", json={"faults": [{"kind": "start_exhausted"}]}, headers=headers)
    appended = client.post("/_internal/faults", json=[{"kind": "drop_after_store"}], headers=headers).json()
    assert [f["kind"] for f in appended["faults"]] == ["start_exhausted", "drop_after_store"]
    cleared = client.delete("/_internal/faults", headers=headers).json()
    assert cleared == {"faults": [], "fired": []}


def test_plans_are_per_project(client: httpx.Client, new_key: Callable[[], str]) -> None:
    mine, theirs = new_key(), new_key()
    client.put("/_internal/faults", json=[{"kind": "start_exhausted"}], headers=keyed(mine))
    assert client.get("/_internal/faults", headers=keyed(theirs)).json()["faults"] == []


def test_bad_plan_is_400_naming_the_fault_and_field_and_changes_nothing(
    client: httpx.Client, api_key: str
) -> None:
    headers = keyed(api_key)
    client.put("/_internal/faults", json=[{"kind": "start_exhausted"}], headers=headers)
    bad = [{"kind": "chunk_unavailable"}, {"kind": "hold_processing"}, {"kind": "nope", "nth": 0}]
    reply = client.put("/_internal/faults", json=bad, headers=headers)
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert "fault 1: hold_processing needs 'seconds'" in error["message"]
    assert "fault 2: kind:" in error["message"] and "fault 2: nth:" in error["message"]
    not_a_list = client.post("/_internal/faults", json={"kind": "start_exhausted"}, headers=headers)
    assert not_a_list.status_code == 400
    assert client.get("/_internal/faults", headers=headers).json()["faults"] == [
        {"kind": "start_exhausted", "nth": 1, "times": 1}
    ]


def test_faults_need_an_api_key(client: httpx.Client) -> None:
    reply = client.get("/_internal/faults")
    assert reply.status_code == 403 and reply.json()["error"]["status"] == "PERMISSION_DENIED"


def test_faults_are_404_when_emulator_controls_are_off(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory()
    reply = httpx.put(f"{server.url}/_internal/faults", json=[], headers={"x-goog-api-key": "k"})
    assert reply.status_code == 404 and reply.json()["error"]["status"] == "NOT_FOUND"
