//! The ADS gRPC service, written against tonic's request types instead of
//! the generated `AggregatedDiscoveryServiceServer`: the generated one
//! encodes `DiscoveryResponse` messages into a buffer per stream, and ours
//! sends [`Response`]s whose resources were encoded once for every stream
//! that shares them, without copying them (`response.rs`, `body.rs`).
//! Requests are decoded by prost as usual.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue};
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::{Status, Streaming};
use tonic_prost::ProstDecoder;

use super::AdsService;
use super::body::ResponseBody;
use super::request::AdsRequest;

/// The service's full name.
const SERVICE: &str = "envoy.service.discovery.v3.AggregatedDiscoveryService";
/// State-of-the-world ADS.
const SOTW_PATH: &str =
    "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";
/// Incremental ADS: answered `UNIMPLEMENTED`.
const DELTA_PATH: &str =
    "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources";

/// The ADS service as a tonic server (`Routes::add_service`).
#[derive(Clone, Debug)]
pub struct AdsServer {
    ads: AdsService,
}

impl AdsServer {
    pub(super) fn new(ads: AdsService) -> Self {
        Self { ads }
    }
}

impl NamedService for AdsServer {
    const NAME: &'static str = SERVICE;
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<B> tower_service::Service<http::Request<B>> for AdsServer
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        match req.uri().path() {
            SOTW_PATH => {
                let response = stream_aggregated_resources(&self.ads, req);
                Box::pin(std::future::ready(Ok(response)))
            }
            DELTA_PATH => {
                let status = Status::unimplemented(
                    "incremental (delta) ADS is not implemented yet: use the state-of-the-world \
                     StreamAggregatedResources method (do not ask for delta xDS in the client's \
                     bootstrap)",
                );
                Box::pin(async move { Ok(status.into_http()) })
            }
            _ => {
                let status =
                    Status::unimplemented(format!("{SERVICE} has no method {}", req.uri().path()));
                Box::pin(async move { Ok(status.into_http()) })
            }
        }
    }
}

/// `StreamAggregatedResources`: what tonic's `Grpc::streaming` does for a
/// generated server, with [`ResponseBody`] in place of its encoder.
fn stream_aggregated_resources<B>(ads: &AdsService, req: http::Request<B>) -> http::Response<Body>
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    if let Err(status) = uncompressed(req.headers()) {
        return status.into_http();
    }
    // `None`: tonic's default limit on a request message (4 MiB).
    let requests = req.map(|body| {
        Streaming::new_request(ProstDecoder::<AdsRequest>::default(), body, None, None)
    });
    let responses = ads.start(tonic::Request::from_http(requests));
    let mut response = http::Response::new(Body::new(ResponseBody::new(responses)));
    *response.version_mut() = http::Version::HTTP_2;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    response
}

/// Requests must come uncompressed: the control plane accepts no
/// `grpc-encoding` but `identity`, and says so as tonic does.
fn uncompressed(headers: &HeaderMap) -> Result<(), Status> {
    match headers.get("grpc-encoding") {
        None => Ok(()),
        Some(v) if v == "identity" => Ok(()),
        Some(other) => {
            let mut status = Status::unimplemented(format!(
                "Content is compressed with `{}` which isn't supported",
                String::from_utf8_lossy(other.as_bytes())
            ));
            status.metadata_mut().insert(
                "grpc-accept-encoding",
                tonic::metadata::MetadataValue::from_static("identity"),
            );
            Err(status)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::watch;
    use tower_service::Service as _;

    use super::*;
    use crate::snapshot::Snapshot;

    /// The server's answer to a request for `path` with `headers`, made
    /// while its snapshot and shutdown channels are open.
    async fn answer(path: &str, headers: &[(&str, &str)]) -> http::Response<Body> {
        let (_snapshots, snapshot_rx) = watch::channel(Arc::new(Snapshot::initial()));
        let (_shutdown, shutdown_rx) = watch::channel(false);
        let ads = AdsService::new(snapshot_rx, Arc::default(), shutdown_rx);
        let mut req = http::Request::builder().uri(path);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req.body(Body::empty()).expect("a request");
        AdsServer::new(ads).call(req).await.expect("infallible")
    }

    #[tokio::test]
    async fn an_unknown_method_is_unimplemented_and_named() {
        let path = format!("/{SERVICE}/FetchListeners");
        let res = answer(&path, &[]).await;
        let status = Status::from_header_map(res.headers()).expect("a gRPC status");
        assert_eq!(status.code(), tonic::Code::Unimplemented);
        assert!(status.message().contains(&path), "{status:?}");
    }

    #[tokio::test]
    async fn a_compressed_stream_is_refused_with_what_is_accepted() {
        let res = answer(SOTW_PATH, &[("grpc-encoding", "gzip")]).await;
        let status = Status::from_header_map(res.headers()).expect("a gRPC status");
        assert_eq!(status.code(), tonic::Code::Unimplemented);
        assert!(status.message().contains("`gzip`"), "{status:?}");
        assert_eq!(res.headers()["grpc-accept-encoding"], "identity");
    }

    #[tokio::test]
    async fn a_stream_answers_as_grpc() {
        let res = answer(SOTW_PATH, &[("grpc-encoding", "identity")]).await;
        assert_eq!(res.status(), http::StatusCode::OK);
        assert_eq!(res.headers()[CONTENT_TYPE], "application/grpc");
        assert!(
            Status::from_header_map(res.headers()).is_none(),
            "not trailers-only"
        );
    }
}
