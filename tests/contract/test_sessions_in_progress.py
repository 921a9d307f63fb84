"""The console's question to every metadata store: which uploads are in progress, newest first."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from gemfiles.domain.models import PartRef
from gemfiles.domain.ports import MetadataStore
from tests.contract.test_metadata_store import GIB, NOW, new_project, new_session


async def test_sessions_in_progress_are_the_active_unexpired_ones_newest_first(meta: MetadataStore) -> None:
    project = new_project()
    sessions = [
        replace(new_session(project, size=100), create_time=NOW + timedelta(seconds=i)) for i in range(4)
    ]
    for session in sessions:
        await meta.create_session(session, GIB, NOW)
    await meta.commit_part(sessions[0].token_digest, 0, PartRef(1, 40), None, 0, GIB, NOW)
    await meta.fail_session(sessions[2].token_digest, {"code": 3, "message": "refused"}, NOW)
    await meta.cancel_session(sessions[3].token_digest, NOW)

    listed = [s for s in await meta.sessions_in_progress(NOW, 100) if s.project == project]
    assert [s.token_digest for s in listed] == [sessions[1].token_digest, sessions[0].token_digest]
    assert (listed[1].received, listed[1].declared_size, listed[1].display_name) == (40, 100, "notes")
    assert len(await meta.sessions_in_progress(NOW, 1)) == 1
    later = NOW + timedelta(days=8)
    assert [s for s in await meta.sessions_in_progress(later, 100) if s.project == project] == []
