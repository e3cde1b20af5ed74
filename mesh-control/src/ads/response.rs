//! Responses encoded once and sent to many streams.
//!
//! A client of 1000 services gets 8000 resources (3 MB) per snapshot, and
//! every replica of a workload gets the same ones. Building a
//! `DiscoveryResponse` per stream meant copying every `Any` (two
//! allocations each) and then encoding the copies: most of the control
//! plane's CPU while 100 such clients connect. Protobuf lets a message's
//! fields come in any order and a repeated field's elements be written
//! separately, so the `resources` field is encoded once per resolution
//! ([`Resolved`]) and each stream's response is its own few header fields
//! around those shared bytes, sent without copying them
//! ([`Response::into_grpc_chunks`], `body.rs`).

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
#[cfg(test)]
use envoy_types::pb::envoy::service::discovery::v3::DiscoveryResponse;
use prost::Message;
use tonic::Status;

use crate::snapshot::Item;

/// `DiscoveryResponse` field numbers (`version_info = 1`, `resources = 2`,
/// `type_url = 4`, `nonce = 5` in envoy/service/discovery/v3/discovery.proto),
/// with wire type 2 (length-delimited), as protobuf keys. The byte-for-byte
/// test below holds them to the generated encoding.
const VERSION_INFO_KEY: u8 = 1 << 3 | 2;
const RESOURCES_KEY: u8 = 2 << 3 | 2;
const TYPE_URL_KEY: u8 = 4 << 3 | 2;
const NONCE_KEY: u8 = 5 << 3 | 2;

/// Each resource's name and the snapshot version of its last change, in
/// the order sent: what a stream remembers of a response (the encoding is
/// dropped once sent, so a stream whose subscription no other shares
/// holds names, not megabytes).
pub(crate) type Keys = Arc<[(String, u64)]>;

/// A resolved subscription: which resources, at which versions, and the
/// `resources` field of a response carrying them, encoded.
#[derive(Debug)]
pub(crate) struct Resolved {
    keys: Keys,
    /// The repeated `resources` field, every element with its key.
    encoded: Bytes,
}

impl Resolved {
    /// Encodes `items`.
    pub(crate) fn new(items: Vec<Item>) -> Self {
        let size: usize = items
            .iter()
            .map(|i| {
                let len = i.any.encoded_len();
                1 + prost::length_delimiter_len(len) + len
            })
            .sum();
        let mut encoded = BytesMut::with_capacity(size);
        let mut keys = Vec::with_capacity(items.len());
        for item in items {
            encoded.put_u8(RESOURCES_KEY);
            // Cannot fail: the buffer was sized for every item.
            let _ = item.any.encode_length_delimited(&mut encoded);
            keys.push((item.name, item.version));
        }
        Self {
            keys: keys.into(),
            encoded: encoded.freeze(),
        }
    }

    /// The resources' names and versions, in the order sent.
    pub(crate) fn keys(&self) -> &Keys {
        &self.keys
    }
}

/// Whether `a` and `b` name the same resources at the same versions
/// (cheap when both come from the same shared resolution).
pub(crate) fn same_keys(a: &Keys, b: &Keys) -> bool {
    Arc::ptr_eq(a, b) || a == b
}

/// One `DiscoveryResponse` to send on one stream.
#[derive(Debug)]
pub(crate) struct Response {
    /// `version_info`.
    pub(crate) version_info: String,
    /// `type_url`.
    pub(crate) type_url: &'static str,
    /// `nonce`.
    pub(crate) nonce: String,
    /// `resources`, shared with every stream resolving the same
    /// subscription on the same snapshot.
    pub(crate) resources: Arc<Resolved>,
}

impl Response {
    /// The encoded length.
    pub(crate) fn encoded_len(&self) -> usize {
        string_len(&self.version_info)
            + self.resources.encoded.len()
            + string_len(self.type_url)
            + string_len(&self.nonce)
    }

    /// The response as one gRPC message (the five-byte length prefix, then
    /// the `DiscoveryResponse`), in up to three chunks that are sent as they
    /// are: the prefix with `version_info`; the shared `resources`, not
    /// copied (for 100 clients of 1000 services that copy was 300 MB, and
    /// each stream's 3 MB buffer a fresh allocation the kernel had to zero);
    /// `type_url` and `nonce`. The fields keep the generated encoding's
    /// order, so the bytes are the same as prost would write.
    ///
    /// A message over 4 GiB cannot be framed: the stream ends with
    /// `RESOURCE_EXHAUSTED` instead (gRPC clients refuse far smaller ones,
    /// 4 MiB by default, unless told otherwise).
    pub(crate) fn into_grpc_chunks(self) -> Result<impl Iterator<Item = Bytes>, Status> {
        let len = self.encoded_len();
        let framed_len = u32::try_from(len).map_err(|_| {
            Status::resource_exhausted(format!(
                "the {} response is {len} bytes, over gRPC's limit of {} bytes per message",
                self.type_url,
                u32::MAX
            ))
        })?;
        let mut head = BytesMut::with_capacity(GRPC_PREFIX_LEN + string_len(&self.version_info));
        head.put_u8(0); // not compressed
        head.put_u32(framed_len);
        put_string(VERSION_INFO_KEY, &self.version_info, &mut head);
        let mut tail = BytesMut::with_capacity(string_len(self.type_url) + string_len(&self.nonce));
        put_string(TYPE_URL_KEY, self.type_url, &mut tail);
        put_string(NONCE_KEY, &self.nonce, &mut tail);
        let resources = self.resources.encoded.clone();
        Ok([head.freeze(), resources, tail.freeze()]
            .into_iter()
            .filter(|chunk| !chunk.is_empty()))
    }

    /// The response as the generated message (decoded from the chunks, so
    /// tests see exactly what a client receives).
    #[cfg(test)]
    pub(crate) fn to_message(&self) -> DiscoveryResponse {
        let copy = Response {
            version_info: self.version_info.clone(),
            type_url: self.type_url,
            nonce: self.nonce.clone(),
            resources: self.resources.clone(),
        };
        let chunks = copy.into_grpc_chunks().expect("a small response frames");
        let message: Vec<u8> = chunks.flatten().skip(GRPC_PREFIX_LEN).collect();
        DiscoveryResponse::decode(message.as_slice()).expect("a response decodes")
    }
}

/// A gRPC message's prefix: a compressed flag and a 32-bit length.
const GRPC_PREFIX_LEN: usize = 5;

/// Proto3 leaves empty strings out.
fn string_len(s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        1 + prost::length_delimiter_len(s.len()) + s.len()
    }
}

fn put_string(key: u8, s: &str, out: &mut impl BufMut) {
    if s.is_empty() {
        return;
    }
    out.put_u8(key);
    // Cannot fail: `BufMut`s grow, and the callers size theirs.
    let _ = prost::encode_length_delimiter(s.len(), out);
    out.put_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use envoy_types::pb::google::protobuf::Any;

    use super::*;

    fn item(name: &str, version: u64, value: &[u8]) -> Item {
        Item {
            name: name.to_owned(),
            version,
            any: Any {
                type_url: "type.googleapis.com/x".to_owned(),
                value: value.to_vec(),
            },
        }
    }

    #[test]
    fn encodes_as_the_generated_message_does() {
        let items = vec![item("a", 1, b"one"), item("b", 2, &[7; 300])];
        let response = Response {
            version_info: "12".to_owned(),
            type_url: "type.googleapis.com/x",
            nonce: "3".to_owned(),
            resources: Arc::new(Resolved::new(items.clone())),
        };
        let expected = DiscoveryResponse {
            version_info: "12".to_owned(),
            resources: items.into_iter().map(|i| i.any).collect(),
            type_url: "type.googleapis.com/x".to_owned(),
            nonce: "3".to_owned(),
            ..Default::default()
        };
        assert_eq!(response.to_message(), expected);
        let len = response.encoded_len();
        let chunks: Vec<Bytes> = response.into_grpc_chunks().expect("framed").collect();
        assert_eq!(chunks.len(), 3, "prefix, shared resources, tail");
        let framed: Vec<u8> = chunks.iter().flatten().copied().collect();
        let message = expected.encode_to_vec();
        assert_eq!(message.len(), len);
        assert_eq!(framed[0], 0, "not compressed");
        assert_eq!(framed[1..5], u32::try_from(len).unwrap().to_be_bytes());
        assert_eq!(framed[5..], message, "byte for byte");
    }

    #[test]
    fn the_resources_are_shared_not_copied() {
        let resources = Arc::new(Resolved::new(vec![item("a", 1, &[1; 1000])]));
        let chunks: Vec<Bytes> = Response {
            version_info: "1".to_owned(),
            type_url: "t",
            nonce: "1".to_owned(),
            resources: resources.clone(),
        }
        .into_grpc_chunks()
        .expect("framed")
        .collect();
        assert_eq!(
            chunks[1].as_ptr(),
            resources.encoded.as_ptr(),
            "the resolution's own bytes"
        );
    }

    #[test]
    fn an_empty_response_is_an_empty_message_with_its_type() {
        let response = Response {
            version_info: "1".to_owned(),
            type_url: "t",
            nonce: "1".to_owned(),
            resources: Arc::new(Resolved::new(Vec::new())),
        };
        let m = response.to_message();
        assert!(m.resources.is_empty());
        assert_eq!((m.type_url.as_str(), m.nonce.as_str()), ("t", "1"));
        let chunks = response.into_grpc_chunks().expect("framed");
        assert_eq!(chunks.count(), 2, "no empty chunk for no resources");
    }

    #[test]
    fn sameness_is_by_names_and_versions() {
        let a = Resolved::new(vec![item("a", 1, b"x")]);
        let again = Resolved::new(vec![item("a", 1, b"x")]);
        let newer = Resolved::new(vec![item("a", 2, b"y")]);
        assert!(same_keys(a.keys(), a.keys()));
        assert!(same_keys(a.keys(), again.keys()));
        assert!(!same_keys(a.keys(), newer.keys()));
        assert_eq!(a.keys()[..], [("a".to_owned(), 1)]);
    }
}
