//! Project-level tests live in `tests/tests/`.
