"""Storage backends behind two small protocols (see base.py), chosen by URL scheme (see registry.py)."""
