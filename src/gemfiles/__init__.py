"""gemfiles: a self-hosted server for the Gemini Files API wire protocol."""

__version__ = "0.1.0"
