//! The last known good resources on disk, so a process that starts while
//! no server answers still routes.
//!
//! The file is a header line then one length-delimited
//! `DiscoveryResponse` per resource type (its version and the resources as
//! received), so it round-trips the raw resources exactly. It is written
//! to a temporary file and renamed, so a reader never sees half of it.

use std::io;
use std::path::Path;

use envoy_types::pb::envoy::service::discovery::v3::DiscoveryResponse;
use prost::Message;

const HEADER: &[u8] = b"mesh-xds-resources v1\n";

/// Writes `saved` to `path` atomically.
pub(crate) fn write(path: &Path, saved: &[DiscoveryResponse]) -> io::Result<()> {
    let mut buf = HEADER.to_vec();
    for r in saved {
        r.encode_length_delimited(&mut buf)
            .map_err(|e| io::Error::other(e.to_string()))?;
    }
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    std::fs::write(&tmp, &buf)?;
    std::fs::rename(&tmp, path)
}

/// Reads what [`write`] wrote.
pub(crate) fn read(path: &Path) -> io::Result<Vec<DiscoveryResponse>> {
    let bytes = std::fs::read(path)?;
    let mut rest = bytes.strip_prefix(HEADER).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidData, "not a mesh xds resource file")
    })?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let r = DiscoveryResponse::decode_length_delimited(&mut rest)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        out.push(r);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::google::protobuf::Any;

    #[test]
    fn round_trips_and_refuses_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("xds.cache");
        let saved = vec![DiscoveryResponse {
            version_info: "7".into(),
            type_url: "t".into(),
            resources: vec![Any {
                type_url: "t".into(),
                value: vec![1, 2, 3],
            }],
            ..Default::default()
        }];
        write(&path, &saved).unwrap();
        assert_eq!(read(&path).unwrap(), saved);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
        std::fs::write(&path, b"junk").unwrap();
        assert_eq!(read(&path).unwrap_err().kind(), io::ErrorKind::InvalidData);
    }
}
