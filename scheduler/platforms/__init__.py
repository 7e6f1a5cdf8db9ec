"""What each platform is, as data (docs/architecture.md, "Adding a platform"): `spec.py` the
shape, one module per platform its `SPEC`, `registry.py` the one list of them. How to talk
to a platform is its publisher's, in `publishers/`."""
