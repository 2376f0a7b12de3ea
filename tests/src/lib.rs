//! Black-box tests and load tools for the gateway. The integration tests live in
//! `tests/api/` (one binary); load tools will live in `src/bin/`.
