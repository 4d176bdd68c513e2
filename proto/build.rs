//! Compiles the .proto files with protox (pure Rust), so a fresh machine needs no protoc.

use prost::Message;
use std::path::PathBuf;

const PROTO_FILES: &[&str] = &[
    "klero/ledger/v1/ledger.proto",
    "klero/registry/v1/registry.proto",
    "klero/assembly/v1/assembly.proto",
    "klero/selection/v1/selection.proto",
    "klero/deliberation/v1/deliberation.proto",
    "klero/recommendation/v1/recommendation.proto",
    "klero/response/v1/response.proto",
    "klero/query/v1/query.proto",
    "klero/documents/v1/documents.proto",
    "klero/privacy/v1/privacy.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=klero");
    let descriptors = protox::compile(PROTO_FILES, ["."])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    // The descriptor set also feeds gRPC server reflection.
    std::fs::write(out_dir.join("klero_descriptor.bin"), descriptors.encode_to_vec())?;
    let grpc = std::env::var_os("CARGO_FEATURE_GRPC").is_some();
    // Type names: every message implements `prost::Name`, so the catalogue can check its event
    // type names against the .proto files at compile time.
    let mut config = prost_build::Config::new();
    config.enable_type_names();
    // Document chunks and view parts as `bytes::Bytes`: a download (or a streamed view) slices
    // one buffer into chunks without copying, and an upload's chunks come out of the receive
    // buffer the same way.
    config.bytes([
        ".klero.documents.v1.UploadRequest",
        ".klero.documents.v1.DownloadResponse",
        ".klero.query.v1.ViewPart",
    ]);
    tonic_build::configure().build_client(grpc).build_server(grpc).compile_fds_with_config(config, descriptors)?;
    Ok(())
}
