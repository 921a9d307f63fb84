#!/usr/bin/env bash
# The REST flow of Google's Files API documentation (ai.google.dev/gemini-api/docs/files, "REST" tab),
# replayed with curl and jq against a gemfiles server:
#   resumable start (headers dumped with -D, the docs' single-quoted JSON body), upload URL taken from the
#   dumped headers, upload-and-finalize with --data-binary, then get, list and delete, with the key in the
#   x-goog-api-key header and as ?key=.
#
# Usage: files_rest_flow.sh BASE_URL API_KEY
# Prints one JSON object describing what each step returned; exits non-zero with a message on the first
# step that does not behave as on Google's service.
set -euo pipefail

BASE_URL="${1:?usage: files_rest_flow.sh BASE_URL API_KEY}"
GEMINI_API_KEY="${2:?usage: files_rest_flow.sh BASE_URL API_KEY}"
BASE_URL="${BASE_URL%/}"

fail() {
  echo "files_rest_flow.sh: $*" >&2
  exit 1
}

workdir="$(mktemp -d)"
trap 'rm -rf "${workdir}"' EXIT
cd "${workdir}"

FILE="${workdir}/sample.txt"
printf 'Gemfiles REST flow sample.\nThe quick brown fox jumps over the lazy dog.\n' > "${FILE}"
if command -v file > /dev/null; then
  MIME_TYPE=$(file -b --mime-type "${FILE}")
else
  MIME_TYPE=text/plain
fi
NUM_BYTES=$(wc -c < "${FILE}")
DISPLAY_NAME="REST sample"

# The docs' two curl calls: resumable start, then upload-and-finalize. Leaves the reply in file_info.json.
upload_with_docs_flow() {
  local tmp_header_file=upload-header.tmp

  # Initial resumable request defining metadata.
  # The upload url is in the response headers dump them to a file.
  curl "${BASE_URL}/upload/v1beta/files" \
    -H "x-goog-api-key: ${GEMINI_API_KEY}" \
    -D "${tmp_header_file}" \
    -H "X-Goog-Upload-Protocol: resumable" \
    -H "X-Goog-Upload-Command: start" \
    -H "X-Goog-Upload-Header-Content-Length: ${NUM_BYTES}" \
    -H "X-Goog-Upload-Header-Content-Type: ${MIME_TYPE}" \
    -H "Content-Type: application/json" \
    -d "{'file': {'display_name': '${DISPLAY_NAME}'}}" 2> /dev/null > start-body.tmp

  head -n 1 "${tmp_header_file}" | grep -q " 200" \
    || fail "start: $(head -n 1 "${tmp_header_file}") $(cat start-body.tmp)"
  upload_url=$(grep -i "x-goog-upload-url: " "${tmp_header_file}" | cut -d" " -f2 | tr -d "\r")
  rm "${tmp_header_file}"
  [[ -n "${upload_url}" ]] || fail "start: no X-Goog-Upload-URL header"

  # Upload the actual bytes (the docs send no key here: the upload URL is the credential).
  curl "${upload_url}" \
    -H "Content-Length: ${NUM_BYTES}" \
    -H "X-Goog-Upload-Offset: 0" \
    -H "X-Goog-Upload-Command: upload, finalize" \
    --data-binary "@${FILE}" 2> /dev/null > file_info.json

  file_uri=$(jq -r ".file.uri" file_info.json)
  name=$(jq -r ".file.name" file_info.json)
  [[ "${file_uri}" != null && "${name}" == files/* ]] || fail "finalize: unexpected body $(cat file_info.json)"
}

# status CODE of a curl call whose body goes to $1 (the remaining arguments are curl's).
http() {
  local out="$1"
  shift
  curl -sS -o "${out}" -w "%{http_code}" "$@"
}

upload_with_docs_flow
cp file_info.json finalized.json

# Get the file's metadata, with the header and with ?key=.
status=$(http get.json "${BASE_URL}/v1beta/${name}" -H "x-goog-api-key: ${GEMINI_API_KEY}")
[[ "${status}" == 200 ]] || fail "get: HTTP ${status} $(cat get.json)"
status=$(http get-query.json "${BASE_URL}/v1beta/${name}?key=${GEMINI_API_KEY}")
[[ "${status}" == 200 ]] || fail "get ?key=: HTTP ${status} $(cat get-query.json)"

# List the project's files, both ways.
status=$(http list.json "${BASE_URL}/v1beta/files" -H "x-goog-api-key: ${GEMINI_API_KEY}")
[[ "${status}" == 200 ]] || fail "list: HTTP ${status} $(cat list.json)"
status=$(http list-query.json "${BASE_URL}/v1beta/files?key=${GEMINI_API_KEY}")
[[ "${status}" == 200 ]] || fail "list ?key=: HTTP ${status} $(cat list-query.json)"

# Delete with the header: the file is gone for ?key= too. Then a second upload, deleted with ?key=.
status=$(http delete.json --request "DELETE" "${BASE_URL}/v1beta/${name}" -H "x-goog-api-key: ${GEMINI_API_KEY}")
[[ "${status}" == 200 ]] || fail "delete: HTTP ${status} $(cat delete.json)"
after_delete_status=$(http after-delete.json "${BASE_URL}/v1beta/${name}?key=${GEMINI_API_KEY}")

upload_with_docs_flow
status=$(http delete-query.json --request "DELETE" "${BASE_URL}/v1beta/${name}?key=${GEMINI_API_KEY}")
[[ "${status}" == 200 ]] || fail "delete ?key=: HTTP ${status} $(cat delete-query.json)"
after_query_delete_status=$(http after-query-delete.json "${BASE_URL}/v1beta/${name}" \
  -H "x-goog-api-key: ${GEMINI_API_KEY}")
status=$(http list-after.json "${BASE_URL}/v1beta/files" -H "x-goog-api-key: ${GEMINI_API_KEY}")
[[ "${status}" == 200 ]] || fail "list after deletes: HTTP ${status} $(cat list-after.json)"

jq -n \
  --arg mime_type "${MIME_TYPE}" \
  --arg num_bytes "${NUM_BYTES}" \
  --arg sha256 "$(sha256sum "${FILE}" | cut -d" " -f1)" \
  --arg upload_url "${upload_url}" \
  --arg after_delete_status "${after_delete_status}" \
  --arg second_name "${name}" \
  --arg after_query_delete_status "${after_query_delete_status}" \
  --slurpfile finalized finalized.json \
  --slurpfile got get.json \
  --slurpfile got_with_query_key get-query.json \
  --slurpfile listed list.json \
  --slurpfile listed_with_query_key list-query.json \
  --slurpfile deleted delete.json \
  --slurpfile after_delete after-delete.json \
  --slurpfile deleted_with_query_key delete-query.json \
  --slurpfile listed_after_deletes list-after.json \
  '{mime_type: $mime_type, num_bytes: ($num_bytes | tonumber), sha256: $sha256, upload_url: $upload_url,
    finalized: $finalized[0], got: $got[0], got_with_query_key: $got_with_query_key[0],
    listed: $listed[0], listed_with_query_key: $listed_with_query_key[0], deleted: $deleted[0],
    after_delete_status: ($after_delete_status | tonumber), after_delete: $after_delete[0],
    second_name: $second_name, deleted_with_query_key: $deleted_with_query_key[0],
    after_query_delete_status: ($after_query_delete_status | tonumber),
    listed_after_deletes: $listed_after_deletes[0]}'
