"""What the client makes of its flags, environment, paths and the server's error envelopes."""

from __future__ import annotations

import json
from pathlib import Path

import click
import httpx
import pytest
from click.testing import CliRunner

from gemfiles.cli import main
from gemfiles.client.api import Backoff, file_id
from gemfiles.client.config import ConfigError, MissingKey, resolve_endpoint
from gemfiles.client.failures import (
    AUTH,
    FAILED,
    INTERRUPTED,
    NOT_FOUND,
    OK,
    UNAVAILABLE,
    combined_exit_code,
    failure_from_response,
)
from gemfiles.client.options import parse_rate
from gemfiles.client.sources import collect, guess_mime_type


def test_resolve_endpoint_reads_the_variables_the_sdks_read() -> None:
    endpoint = resolve_endpoint(
        None, None, None, {"GOOGLE_GEMINI_BASE_URL": "http://h:1/prefix/", "GEMINI_API_KEY": "g"}
    )
    assert endpoint.base_url == "http://h:1/prefix"
    assert endpoint.api_key == "g"
    assert endpoint.api_version == "v1"  # google-genai's default
    assert endpoint.url("files") == "http://h:1/prefix/v1/files"
    assert endpoint.upload_url() == "http://h:1/prefix/upload/v1/files"


def test_resolve_endpoint_prefers_google_api_key_and_flags_over_variables() -> None:
    env = {"GOOGLE_API_KEY": "google", "GEMINI_API_KEY": "gemini", "GOOGLE_GENAI_API_VERSION": "beta"}
    assert resolve_endpoint(None, None, None, env).api_key == "google"
    assert resolve_endpoint(None, None, None, env).api_version == "v1beta"
    flagged = resolve_endpoint("https://x.test", "flag", "v1alpha", env)
    assert (flagged.base_url, flagged.api_key, flagged.api_version) == ("https://x.test", "flag", "v1alpha")


def test_resolve_endpoint_defaults_to_google() -> None:
    endpoint = resolve_endpoint(None, None, None, {"GEMINI_API_KEY": "k"})
    assert endpoint.base_url == "https://generativelanguage.googleapis.com"
    assert endpoint.is_google


def test_resolve_endpoint_with_an_empty_version_flag_builds_version_less_paths() -> None:
    endpoint = resolve_endpoint("http://h", "k", "", {})
    assert endpoint.url("files/a") == "http://h/files/a"
    assert endpoint.upload_url() == "http://h/upload/files"


def test_resolve_endpoint_without_a_key_is_an_auth_failure() -> None:
    with pytest.raises(MissingKey) as caught:
        resolve_endpoint("http://h", None, None, {})
    assert caught.value.exit_code == AUTH


@pytest.mark.parametrize("base", ["ftp://h", "h:8080", "http://h/?q=1"])
def test_resolve_endpoint_refuses_a_malformed_base_url(base: str) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_endpoint(base, "k", None, {})
    assert caught.value.exit_code == 2


def test_key_fingerprint_does_not_contain_the_key() -> None:
    endpoint = resolve_endpoint("http://h", "secret-key-123", None, {})
    assert "secret" not in endpoint.key_fingerprint
    assert endpoint.key_fingerprint != resolve_endpoint("http://h", "other", None, {}).key_fingerprint


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("files/abc123", "abc123"),
        ("abc123", "abc123"),
        ("https://generativelanguage.googleapis.com/v1beta/files/abc123", "abc123"),
        ("http://127.0.0.1:8080/v1beta/files/abc123:download?alt=media", "abc123"),
        (" files/my-id ", "my-id"),
    ],
)
def test_file_id_accepts_names_ids_and_uris(name: str, expected: str) -> None:
    assert file_id(name) == expected


@pytest.mark.parametrize("name", ["", "files/", "files/a/b", "../x"])
def test_file_id_refuses_what_is_not_a_file_name(name: str) -> None:
    with pytest.raises(ConfigError):
        file_id(name)


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("2000000", 2_000_000),
        ("500K", 512_000),
        ("10M", 10 * 1024 * 1024),
        ("1.5MiB/s", 1_572_864),
        ("1g", 1 << 30),
    ],
)
def test_parse_rate_reads_sizes_per_second(text: str, rate: int) -> None:
    assert parse_rate(None, None, text) == rate  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["fast", "10X", "100"])
def test_parse_rate_refuses_nonsense_and_tiny_rates(text: str) -> None:
    with pytest.raises(click.BadParameter):
        parse_rate(None, None, text)  # type: ignore[arg-type]


def test_collect_walks_directories_skips_hidden_entries_and_names_files_by_relative_path(
    tmp_path: Path,
) -> None:
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "a.txt").write_text("a")
    (root / "sub" / "b.pdf").write_bytes(b"%PDF")
    (root / ".hidden.txt").write_text("h")
    (root / ".git" / "c.txt").write_text("c")
    single = tmp_path / "talk.mp3"
    single.write_bytes(b"ID3")
    jobs, problems = collect([str(root), str(single), str(root / "a.txt")])
    assert problems == []
    assert [(j.display_name, j.mime_type) for j in jobs] == [
        ("a.txt", "text/plain"),
        ("sub/b.pdf", "application/pdf"),
        ("talk.mp3", "audio/mpeg"),
    ]  # a.txt given twice is uploaded once
    assert all(j.path.is_absolute() for j in jobs)


def test_collect_reports_missing_paths_and_applies_overrides(tmp_path: Path) -> None:
    data = tmp_path / "data.unknownext"
    data.write_bytes(b"x")
    jobs, problems = collect(
        [str(data), str(tmp_path / "nope")], mime_type="text/csv", display_name="Data", name="files/data1"
    )
    assert problems == [(str(tmp_path / "nope"), "no such file or directory")]
    assert (jobs[0].mime_type, jobs[0].display_name, jobs[0].name) == ("text/csv", "Data", "files/data1")


def test_guess_mime_type_takes_compression_as_the_type() -> None:
    assert guess_mime_type(Path("logs.tar.gz")) == "application/gzip"
    assert guess_mime_type(Path("video.mp4")) == "video/mp4"
    assert guess_mime_type(Path("no-extension")) is None


def reply(code: int, body: object, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.Response(code, content=content, headers=headers)


def test_failure_from_response_reads_googles_envelope() -> None:
    failure = failure_from_response(
        reply(
            400,
            {
                "error": {
                    "code": 400,
                    "message": "API key not valid. Please pass a valid API key.",
                    "status": "INVALID_ARGUMENT",
                    "details": [
                        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
                    ],
                }
            },
        )
    )
    assert (failure.code, failure.status, failure.reason) == (400, "INVALID_ARGUMENT", "API_KEY_INVALID")
    assert failure.exit_code == AUTH
    assert str(failure) == "400 INVALID_ARGUMENT: API key not valid. Please pass a valid API key."


@pytest.mark.parametrize(
    ("code", "message", "exit_code"),
    [
        (403, "You do not have permission to access the File x or it may not exist.", NOT_FOUND),
        (403, "Method doesn't allow unregistered callers", AUTH),
        (401, "Request had invalid authentication credentials.", AUTH),
        (404, "Not found", NOT_FOUND),
        (400, "Unsupported MIME type: bad/type", FAILED),
        (429, "Quota exceeded", FAILED),
        (503, "Unavailable", UNAVAILABLE),
    ],
)
def test_failure_exit_codes_say_what_failed(code: int, message: str, exit_code: int) -> None:
    body = {"error": {"code": code, "message": message, "status": "X"}}
    assert failure_from_response(reply(code, body)).exit_code == exit_code


def test_failure_from_response_unwraps_a_one_element_list_and_reads_plain_text() -> None:
    wrapped = failure_from_response(
        reply(500, [{"error": {"code": 500, "message": "boom", "status": "INTERNAL"}}])
    )
    assert (wrapped.message, wrapped.status) == ("boom", "INTERNAL")
    plain = failure_from_response(reply(502, b"<html>Bad Gateway</html>"))
    assert (plain.message, plain.status, plain.exit_code) == (
        "<html>Bad Gateway</html>",
        "BAD_GATEWAY",
        UNAVAILABLE,
    )


def test_combined_exit_code_keeps_a_shared_reason_and_says_1_for_mixed_ones() -> None:
    assert combined_exit_code([OK, OK]) == OK
    assert combined_exit_code([OK, AUTH, AUTH]) == AUTH
    assert combined_exit_code([AUTH, NOT_FOUND]) == FAILED
    assert combined_exit_code([OK, INTERRUPTED, FAILED]) == INTERRUPTED


def test_backoff_grows_and_honours_retry_after() -> None:
    backoff = Backoff(base=1.0, cap=30.0)
    assert 0.8 <= backoff.delay(1) <= 1.2
    assert 6.4 <= backoff.delay(4) <= 9.6
    assert 24 <= backoff.delay(10) <= 36
    assert backoff.delay(1, "7") == 7.0
    assert backoff.delay(1, "100000") == 120.0  # capped


def run_cli(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    base_env = {
        "GOOGLE_API_KEY": "",
        "GEMINI_API_KEY": "",
        "GOOGLE_GEMINI_BASE_URL": "",
        "GOOGLE_GENAI_API_VERSION": "",
    }
    result = CliRunner().invoke(main, args, env={**base_env, **(env or {})})
    return result.exit_code, result.output


def test_upload_of_a_missing_local_file_is_a_usage_error(tmp_path: Path) -> None:
    code, output = run_cli(["files", "upload", str(tmp_path / "nope.txt"), "--api-key", "k"])
    assert code == 2
    assert "no such file or directory" in output


def test_upload_refuses_a_display_name_for_several_files(tmp_path: Path) -> None:
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text(name)
    code, output = run_cli(["files", "upload", str(tmp_path), "--display-name", "x", "--api-key", "k"])
    assert code == 2
    assert "one file" in output


def test_upload_refuses_a_malformed_file_id(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    code, _ = run_cli(["files", "upload", str(tmp_path / "a.txt"), "--name", "files/a/b", "--api-key", "k"])
    assert code == 2


def test_commands_without_a_key_exit_with_the_auth_code() -> None:
    code, output = run_cli(["files", "list", "--base-url", "http://127.0.0.1:9"])
    assert code == AUTH
    assert "GEMINI_API_KEY" in output


def test_usage_against_google_says_it_is_not_available_without_a_request() -> None:
    code, output = run_cli(["usage", "--json"], {"GEMINI_API_KEY": "k"})
    assert code == FAILED
    assert json.loads(output[output.index("{") :])["error"]["message"].startswith("not available")


def test_unreachable_server_exits_with_the_network_code() -> None:
    code, _ = run_cli(
        ["files", "list", "--base-url", "http://127.0.0.1:9", "--api-key", "k", "--retries", "0"]
    )
    assert code == UNAVAILABLE


def test_files_help_documents_the_exit_codes() -> None:
    code, output = run_cli(["files", "--help"])
    assert code == 0
    assert "Exit codes" in output
    for command in ("upload", "list", "get", "delete", "download"):
        assert command in output
