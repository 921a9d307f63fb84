"""Plain objects and rules: files, upload sessions, quotas, expiry. No HTTP, no SQL."""
