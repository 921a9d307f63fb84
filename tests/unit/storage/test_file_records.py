"""Rows -> records on the read paths: one record per unchanged row, a new one for any change."""

from __future__ import annotations

from gemfiles.storage.sql_rows import FileRecords

ROW = {
    "project": "p",
    "id": "abc123",
    "display_name": None,
    "mime_type": "text/plain",
    "size_bytes": 5,
    "sha256_hex": "00" * 32,
    "create_us": 1_700_000_000_000_000,
    "update_us": 1_700_000_000_000_000,
    "expire_us": 1_700_172_800_000_000,
    "state": "PROCESSING",
    "source": "UPLOADED",
    "error_json": None,
    "facts_json": None,
    "blob_key": "k",
}


class Row(dict):  # type: ignore[type-arg]
    """A row as the drivers give it: values by name, and in column order when iterated as a tuple."""

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.values())


def test_file_records_gives_the_same_record_for_an_unchanged_row() -> None:
    records = FileRecords()
    first = records(Row(ROW))
    assert records(Row(ROW)) is first
    assert first.id == "abc123" and first.state.value == "PROCESSING"


def test_file_records_gives_a_new_record_for_a_changed_row() -> None:
    records = FileRecords()
    before = records(Row(ROW))
    after = records(
        Row({**ROW, "state": "ACTIVE", "facts_json": '{"chars": 5}', "update_us": ROW["update_us"] + 1})
    )
    assert after is not before
    assert after.state.value == "ACTIVE" and after.facts == {"chars": 5}
    assert before.state.value == "PROCESSING" and before.facts is None


def test_file_records_keeps_at_most_size_rows() -> None:
    records = FileRecords(size=3)
    for index in range(10):
        assert records(Row({**ROW, "id": f"f{index}"})).id == f"f{index}"
    assert len(records._memo) <= 3


def test_file_records_forgets_the_least_recently_used_row_when_full() -> None:
    records = FileRecords(size=3)
    kept = records(Row({**ROW, "id": "kept"}))
    for index in range(3):
        records(Row({**ROW, "id": f"f{index}"}))
        assert records(Row({**ROW, "id": "kept"})) is kept  # used again: not the one forgotten
    assert len(records._memo) == 3
    assert records(Row({**ROW, "id": "f2"})) is records(Row({**ROW, "id": "f2"}))


def test_file_records_reads_facts_json_the_json_module_wrote() -> None:
    records = FileRecords()
    odd = records(Row({**ROW, "facts_json": '{"duration": NaN, "big": 123456789012345678901234567890}'}))
    assert odd.facts is not None and odd.facts["big"] == 123456789012345678901234567890
    assert odd.facts["duration"] != odd.facts["duration"]  # NaN
