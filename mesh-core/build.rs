//! Compiles the registry's protobuf (`proto/registry.proto`) in pure Rust
//! (no protoc needed): client stubs for `registration`, server stubs for
//! the control plane (`mesh-control`).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/registry.proto");
    let fds = protox::compile(["proto/registry.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
