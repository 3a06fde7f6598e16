//! End-to-end: lang_ruby_php.
