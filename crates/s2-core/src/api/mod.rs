//! Request builders and response parsers.
