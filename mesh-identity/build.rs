//! Compiles the CA's protobuf (`proto/ca.proto`) in pure Rust (no protoc
//! needed): the client stub for workloads, the server stub for `mesh-ca`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/ca.proto");
    let fds = protox::compile(["proto/ca.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
