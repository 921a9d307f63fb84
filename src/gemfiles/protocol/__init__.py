"""The only code that sees HTTP: routes, header parsing and the wire shapes (camelCase)."""
