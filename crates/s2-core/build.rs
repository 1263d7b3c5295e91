//! Generates the protobuf message types from `proto/s2/v1/s2.proto` with a
//! pure-Rust protobuf compiler, so no system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    // The published crate carries its own copy; the workspace uses the shared one.
    let local = manifest_dir.join("proto");
    let proto_root = if local.join("s2/v1/s2.proto").exists() {
        local
    } else {
        manifest_dir.join("../../proto")
    };
    let file = proto_root.join("s2/v1/s2.proto");
    println!("cargo:rerun-if-changed={}", file.display());
    let descriptors = protox::compile([&file], [&proto_root])?;
    prost_build::Config::new()
        // Record bodies and header blobs decode as slices of the frame buffer.
        .bytes(["."])
        .compile_fds(descriptors)?;
    Ok(())
}
