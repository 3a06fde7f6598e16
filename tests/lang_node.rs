//! End-to-end: lang_node.
