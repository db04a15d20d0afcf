//! Generates the `ui.Ui` and `bulk.Bulk` services' tonic code from Rust
//! descriptions: the messages are derived by hand in `src/proto.rs`, so
//! the build needs no `protoc`.

use tonic_build::manual::{Builder, Method, Service};

fn method(
    name: &str,
    route: &str,
    input: &str,
    output: &str,
) -> tonic_build::manual::MethodBuilder {
    Method::builder()
        .name(name)
        .route_name(route)
        .input_type(format!("crate::proto::{input}"))
        .output_type(format!("crate::proto::{output}"))
        .codec_path("tonic_prost::ProstCodec")
}

fn main() {
    let ui = Service::builder()
        .name("Ui")
        .package("ui")
        .method(method("frame", "Frame", "FrameRequest", "FrameReply").build())
        .build();
    let bulk = Service::builder()
        .name("Bulk")
        .package("bulk")
        .method(method("work", "Work", "WorkRequest", "WorkReply").build())
        .method(
            method("count", "Count", "CountRequest", "Item")
                .server_streaming()
                .build(),
        )
        .method(
            method("sum", "Sum", "Item", "SumReply")
                .client_streaming()
                .build(),
        )
        .method(
            method("echo", "Echo", "Item", "Item")
                .client_streaming()
                .server_streaming()
                .build(),
        )
        .build();
    Builder::new().build_transport(false).compile(&[ui, bulk]);
    println!("cargo:rerun-if-changed=build.rs");
}
