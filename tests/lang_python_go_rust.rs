//! End-to-end: lang_python_go_rust.
