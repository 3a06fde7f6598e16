//! End-to-end: buildpack_api.
