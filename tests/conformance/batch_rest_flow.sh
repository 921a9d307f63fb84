#!/usr/bin/env bash
# The REST flow of Google's Batch API documentation (ai.google.dev/gemini-api/docs/batch-mode, "REST" tabs),
# replayed with curl and jq against a gemfiles server:
#   write the JSONL of requests, upload it with the resumable start (headers dumped with -D, the docs'
#   single-quoted JSON body) and upload-and-finalize, create the batch from the file name, poll
#   .metadata.state, download .response.responsesFile from /download/v1beta/...:download?alt=media;
#   then a batch of inline requests read from .response.inlinedResponses; then cancel and delete.
#
# Usage: batch_rest_flow.sh BASE_URL API_KEY
# Prints one JSON object describing what each step returned; exits non-zero on the first step that fails.
set -euo pipefail

BASE_URL="${1:?usage: batch_rest_flow.sh BASE_URL API_KEY}"
GEMINI_API_KEY="${2:?usage: batch_rest_flow.sh BASE_URL API_KEY}"
BASE_URL="${BASE_URL%/}"

fail() {
  echo "batch_rest_flow.sh: $*" >&2
  exit 1
}

workdir="$(mktemp -d)"
trap 'rm -rf "${workdir}"' EXIT
cd "${workdir}"

# The docs' sample input: two requests, each with its key.
cat > my-batch-requests.jsonl << 'JSONL'
{"key": "request-1", "request": {"contents": [{"parts": [{"text": "Describe the process of photosynthesis."}]}]}}
{"key": "request-2", "request": {"contents": [{"parts": [{"text": "What are the main ingredients in a Margherita pizza?"}]}]}}
JSONL
INPUT_PATH=my-batch-requests.jsonl
MIME_TYPE=jsonl
NUM_BYTES=$(wc -c < "${INPUT_PATH}")
DISPLAY_NAME=my-batch-requests

tmp_header_file=upload-header.tmp
curl "${BASE_URL}/upload/v1beta/files" \
  -D "${tmp_header_file}" \
  -H "x-goog-api-key: ${GEMINI_API_KEY}" \
  -H "X-Goog-Upload-Protocol: resumable" \
  -H "X-Goog-Upload-Command: start" \
  -H "X-Goog-Upload-Header-Content-Length: ${NUM_BYTES}" \
  -H "X-Goog-Upload-Header-Content-Type: ${MIME_TYPE}" \
  -H "Content-Type: application/jsonl" \
  -d "{'file': {'display_name': '${DISPLAY_NAME}'}}" 2> /dev/null > start-body.tmp
upload_url=$(grep -i "x-goog-upload-url: " "${tmp_header_file}" | cut -d" " -f2 | tr -d "\r")
[[ -n "${upload_url}" ]] || fail "start: no X-Goog-Upload-URL header: $(cat start-body.tmp)"

curl "${upload_url}" \
  -H "Content-Length: ${NUM_BYTES}" \
  -H "X-Goog-Upload-Offset: 0" \
  -H "X-Goog-Upload-Command: upload, finalize" \
  --data-binary "@${INPUT_PATH}" 2> /dev/null > file_info.json
BATCH_INPUT_FILE=$(jq -r ".file.name" file_info.json)
[[ "${BATCH_INPUT_FILE}" == files/* ]] || fail "finalize: $(cat file_info.json)"

curl -sS "${BASE_URL}/v1beta/models/gemini-2.5-flash:batchGenerateContent" \
  -X POST \
  -H "x-goog-api-key: ${GEMINI_API_KEY}" \
  -H "Content-Type:application/json" \
  -d "{
    'batch': {
        'display_name': 'my-batch-requests',
        'input_config': {
            'file_name': '${BATCH_INPUT_FILE}'
        }
    }
}" > created.json
BATCH_NAME=$(jq -r '.name' created.json)
[[ "${BATCH_NAME}" == batches/* ]] || fail "create: $(cat created.json)"

poll() {
  local name="$1" out="$2" state
  for _ in $(seq 1 300); do
    curl -sS "${BASE_URL}/v1beta/${name}" -H "x-goog-api-key: ${GEMINI_API_KEY}" > "${out}"
    state=$(jq -r '.metadata.state' "${out}")
    case "${state}" in
      BATCH_STATE_SUCCEEDED | BATCH_STATE_FAILED | BATCH_STATE_CANCELLED) return 0 ;;
    esac
    sleep 0.2
  done
  fail "${name} did not finish: $(cat "${out}")"
}

poll "${BATCH_NAME}" batch_status.json
[[ $(jq '.response | has("responsesFile")' batch_status.json) == true ]] || fail "no responsesFile"
responses_file_name=$(jq -r '.response.responsesFile' batch_status.json)
status=$(curl -sS -o results.jsonl -w "%{http_code}" \
  "${BASE_URL}/download/v1beta/${responses_file_name}:download?alt=media" \
  -H "x-goog-api-key: ${GEMINI_API_KEY}")
[[ "${status}" == 200 ]] || fail "download: HTTP ${status} $(cat results.jsonl)"
jq -s '.' results.jsonl > results.json

# Inline requests, the docs' second REST sample.
curl -sS "${BASE_URL}/v1beta/models/gemini-2.5-flash:batchGenerateContent" \
  -X POST \
  -H "x-goog-api-key: ${GEMINI_API_KEY}" \
  -H "Content-Type:application/json" \
  -d '{
    "batch": {
        "display_name": "my-batch-requests",
        "input_config": {
            "requests": {
                "requests": [
                    {"request": {"contents": [{"parts": [{"text": "Describe the process of photosynthesis."}]}]},
                     "metadata": {"key": "request-1"}},
                    {"request": {"contents": [{"parts": [{"text": "Describe the process of photosynthesis."}]}]},
                     "metadata": {"key": "request-2"}}
                ]
            }
        }
    }
}' > inline-created.json
INLINE_NAME=$(jq -r '.name' inline-created.json)
poll "${INLINE_NAME}" inline_status.json

# Cancel (of a finished job: refused) and delete.
cancel_status=$(curl -sS -o cancel.json -w "%{http_code}" -X POST \
  "${BASE_URL}/v1beta/${INLINE_NAME}:cancel" -H "x-goog-api-key: ${GEMINI_API_KEY}")
delete_status=$(curl -sS -o delete.json -w "%{http_code}" -X DELETE \
  "${BASE_URL}/v1beta/${INLINE_NAME}" -H "x-goog-api-key: ${GEMINI_API_KEY}")
after_delete_status=$(curl -sS -o /dev/null -w "%{http_code}" \
  "${BASE_URL}/v1beta/${INLINE_NAME}" -H "x-goog-api-key: ${GEMINI_API_KEY}")
curl -sS "${BASE_URL}/v1beta/batches?pageSize=10" -H "x-goog-api-key: ${GEMINI_API_KEY}" > list.json

jq -n \
  --arg input_file "${BATCH_INPUT_FILE}" \
  --arg cancel_status "${cancel_status}" \
  --arg delete_status "${delete_status}" \
  --arg after_delete_status "${after_delete_status}" \
  --slurpfile uploaded file_info.json \
  --slurpfile created created.json \
  --slurpfile status batch_status.json \
  --slurpfile results results.json \
  --slurpfile inline inline_status.json \
  --slurpfile listed list.json \
  '{input_file: $input_file, uploaded: $uploaded[0], created: $created[0], status: $status[0],
    results: $results[0], inline: $inline[0], listed: $listed[0],
    cancel_status: ($cancel_status | tonumber), delete_status: ($delete_status | tonumber),
    after_delete_status: ($after_delete_status | tonumber)}'
