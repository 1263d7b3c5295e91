//! The checked-in protobuf code (`src/proto/s2.v1.rs`) is what
//! `proto/s2/v1/s2.proto` compiles to today.
//!
//! Users build s2-core without code generation; this test keeps the
//! checked-in output honest. After changing the schema (or the generator's
//! settings below), rewrite it with
//! `S2_BLESS=1 cargo test -p s2-core --test generated_proto`.

use std::path::{Path, PathBuf};

/// The workspace's schema, the source of truth.
fn proto_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto")
}

/// The generated module as checked in.
fn checked_in() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/proto/s2.v1.rs")
}

/// Compiles the schema with the settings the crate relies on.
fn generate() -> String {
    let root = proto_root();
    let file = root.join("s2/v1/s2.proto");
    assert!(
        file.exists(),
        "{} is missing: this test runs in the workspace, where the schema lives",
        file.display()
    );
    let descriptors = protox::compile([&file], [&root]).expect("the schema compiles");
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("generated_proto");
    std::fs::create_dir_all(&out_dir).expect("temporary directory");
    prost_build::Config::new()
        // Record bodies and header blobs decode as slices of the frame buffer.
        .bytes(["."])
        .out_dir(&out_dir)
        .compile_fds(descriptors)
        .expect("code generation");
    std::fs::read_to_string(out_dir.join("s2.v1.rs")).expect("generated file")
}

#[test]
fn checked_in_code_matches_the_schema() {
    let fresh = generate();
    if std::env::var_os("S2_BLESS").is_some() {
        std::fs::write(checked_in(), &fresh).expect("rewrite the checked-in code");
        return;
    }
    let current = std::fs::read_to_string(checked_in()).expect("checked-in code");
    assert!(
        current == fresh,
        "src/proto/s2.v1.rs is out of date with proto/s2/v1/s2.proto; \
         rewrite it with `S2_BLESS=1 cargo test -p s2-core --test generated_proto`"
    );
}
