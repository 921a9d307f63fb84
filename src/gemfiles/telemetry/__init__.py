"""Telemetry adapters: the domain's Telemetry port and the server's request metrics, in Prometheus' terms."""
