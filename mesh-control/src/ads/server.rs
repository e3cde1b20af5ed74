//! The ADS gRPC service, written against tonic's server API instead of the
//! generated `AggregatedDiscoveryServiceServer`: the generated one encodes
//! `DiscoveryResponse` messages, and ours sends [`Response`]s whose
//! resources were encoded once for every stream that shares them
//! (`response.rs`). Requests are decoded by prost as usual.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use envoy_types::pb::envoy::service::discovery::v3::DiscoveryRequest;
use tonic::body::Body;
use tonic::codec::{Codec, EncodeBuf, Encoder};
use tonic::server::{Grpc, NamedService, StreamingService};
use tonic::{Status, Streaming};
use tonic_prost::ProstDecoder;

use super::AdsService;
use super::response::Response;

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
                let method = Method(self.ads.clone());
                Box::pin(async move { Ok(Grpc::new(AdsCodec).streaming(method, req).await) })
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

/// `StreamAggregatedResources`.
struct Method(AdsService);

impl StreamingService<DiscoveryRequest> for Method {
    type Response = Response;
    type ResponseStream = super::ResponseStream;
    type Future = std::future::Ready<Result<tonic::Response<Self::ResponseStream>, Status>>;

    fn call(&mut self, request: tonic::Request<Streaming<DiscoveryRequest>>) -> Self::Future {
        std::future::ready(Ok(tonic::Response::new(self.0.start(request))))
    }
}

/// Requests decoded by prost; responses written from their shared
/// encoding.
struct AdsCodec;

impl Codec for AdsCodec {
    type Encode = Response;
    type Decode = DiscoveryRequest;
    type Encoder = ResponseEncoder;
    type Decoder = ProstDecoder<DiscoveryRequest>;

    fn encoder(&mut self) -> ResponseEncoder {
        ResponseEncoder
    }

    fn decoder(&mut self) -> ProstDecoder<DiscoveryRequest> {
        ProstDecoder::default()
    }
}

struct ResponseEncoder;

impl Encoder for ResponseEncoder {
    type Item = Response;
    type Error = Status;

    fn encode(&mut self, item: Response, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.reserve(item.encoded_len());
        item.encode(dst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::watch;
    use tower_service::Service as _;

    use super::*;
    use crate::snapshot::Snapshot;

    #[tokio::test]
    async fn an_unknown_method_is_unimplemented_and_named() {
        let (_snapshots, snapshot_rx) = watch::channel(Arc::new(Snapshot::initial()));
        let (_shutdown, shutdown_rx) = watch::channel(false);
        let ads = AdsService::new(snapshot_rx, Arc::default(), shutdown_rx);
        let path = format!("/{SERVICE}/FetchListeners");
        let req = http::Request::builder()
            .uri(path.as_str())
            .body(Body::empty())
            .expect("a request");
        let res = AdsServer::new(ads).call(req).await.expect("infallible");
        let status = Status::from_header_map(res.headers()).expect("a gRPC status");
        assert_eq!(status.code(), tonic::Code::Unimplemented);
        assert!(status.message().contains(&path), "{status:?}");
    }
}
