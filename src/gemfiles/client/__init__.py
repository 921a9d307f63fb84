"""A command-line client of the Files API wire protocol: ``gemfiles files ...`` and ``gemfiles usage``.

It speaks HTTP only (httpx), so it works against any Files API: a gemfiles server or Google's own. It imports
nothing of the server's packages (domain, protocol, storage, backends, media), so it can be lifted out whole.

    config.py     base URL, API key and API version, from flags or the variables the SDKs read
    failures.py   Google's error envelope read back; exit codes
    api.py        the HTTP calls (files list/get/delete/download, usage, the upload URL's commands), retried
    state.py      one small 0600 file per upload in progress, so an interrupted upload resumes
    resumable.py  one file's resumable upload: start or resume, chunks, retries, SHA-256 check
    sources.py    command-line paths -> files to upload, with their MIME types and display names
    commands.py   the click commands
"""
