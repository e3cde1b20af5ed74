//! ADS requests as the control plane decodes them.
//!
//! Every ACK restates the client's whole subscription: 8000 names for a
//! client of 1000 services, four times per snapshot. Decoded into the
//! generated `DiscoveryRequest`, each name was a `String` of its own, and
//! allocating and freeing them was a fifth of the control plane's CPU while
//! 100 such clients connected. Here the names are slices of the received
//! message (tonic hands prost a buffer whose `copy_to_bytes` shares it), and
//! only a changed subscription is copied into `String`s (`state.rs`).

use bytes::Bytes;
use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::google::rpc::Status as RpcStatus;

/// `envoy.service.discovery.v3.DiscoveryRequest` (field numbers from
/// envoy/service/discovery/v3/discovery.proto) with `resource_names`, a
/// `repeated string`, decoded as bytes. The fields this server does not
/// read (`resource_locators`) are skipped.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct AdsRequest {
    /// `version_info`: the version the request ACKs or NACKs.
    #[prost(string, tag = "1")]
    pub(crate) version_info: String,
    /// `node`: who the client is (its first request must carry it).
    #[prost(message, optional, tag = "2")]
    pub(crate) node: Option<Node>,
    /// `resource_names`: the subscription, as UTF-8 bytes once
    /// [`AdsRequest::check`] has passed.
    #[prost(bytes = "bytes", repeated, tag = "3")]
    pub(crate) resource_names: Vec<Bytes>,
    /// `type_url`.
    #[prost(string, tag = "4")]
    pub(crate) type_url: String,
    /// `response_nonce`: the response this request answers.
    #[prost(string, tag = "5")]
    pub(crate) response_nonce: String,
    /// `error_detail`: set on a NACK.
    #[prost(message, optional, tag = "6")]
    pub(crate) error_detail: Option<RpcStatus>,
}

impl AdsRequest {
    /// Fails for a resource name that is not UTF-8, as decoding a
    /// `string` field would have.
    pub(crate) fn check(&self) -> Result<(), tonic::Status> {
        match self
            .resource_names
            .iter()
            .find(|name| std::str::from_utf8(name).is_err())
        {
            None => Ok(()),
            Some(name) => Err(tonic::Status::invalid_argument(format!(
                "a {} request names a resource that is not UTF-8: {:?}",
                self.type_url,
                String::from_utf8_lossy(name)
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use envoy_types::pb::envoy::service::discovery::v3::DiscoveryRequest;
    use prost::Message;

    use super::*;

    #[test]
    fn decodes_what_the_generated_message_encodes() {
        let generated = DiscoveryRequest {
            version_info: "3".into(),
            node: Some(Node {
                id: "client-1".into(),
                ..Default::default()
            }),
            resource_names: vec!["outbound|80||a".into(), "outbound|80||b".into()],
            type_url: "type.googleapis.com/envoy.config.cluster.v3.Cluster".into(),
            response_nonce: "7".into(),
            error_detail: Some(RpcStatus {
                code: 3,
                message: "bad".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let bytes = Bytes::from(generated.encode_to_vec());
        let decoded = AdsRequest::decode(bytes.clone()).expect("decodes");
        assert_eq!(decoded.version_info, "3");
        assert_eq!(
            decoded.node.as_ref().map(|n| n.id.as_str()),
            Some("client-1")
        );
        assert_eq!(decoded.resource_names, ["outbound|80||a", "outbound|80||b"]);
        assert_eq!(decoded.type_url, generated.type_url);
        assert_eq!(decoded.response_nonce, "7");
        assert_eq!(
            decoded.error_detail.as_ref().map(|e| e.message.as_str()),
            Some("bad")
        );
        assert!(
            bytes
                .as_ptr_range()
                .contains(&decoded.resource_names[0].as_ptr()),
            "a name is a slice of the message, not a copy"
        );
        assert!(decoded.check().is_ok());
    }

    #[test]
    fn a_name_that_is_not_utf8_is_refused_and_shown() {
        let request = AdsRequest {
            type_url: "type.googleapis.com/envoy.config.cluster.v3.Cluster".into(),
            resource_names: vec![Bytes::from_static(b"ok"), Bytes::from_static(b"x\xffy")],
            ..Default::default()
        };
        let status = request.check().expect_err("not UTF-8");
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(status.message().contains("Cluster request"), "{status:?}");
        assert!(status.message().contains("x\u{fffd}y"), "{status:?}");
    }
}
