//! Reads what the mesh needs from an X.509 leaf certificate with
//! x509-parser: its URI SANs, validity, CA flag and key usage. webpki
//! validates chains but has no public API for URI SANs.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use x509_parser::extensions::GeneralName;
use x509_parser::time::ASN1Time;

use crate::peer::PeerError;
use crate::spiffe::SpiffeId;

/// The parts of a leaf certificate the mesh looks at.
#[derive(Debug)]
pub(crate) struct Leaf {
    /// Every URI subject alternative name, in order.
    pub(crate) uri_sans: Vec<String>,
    pub(crate) not_before: SystemTime,
    pub(crate) not_after: SystemTime,
    /// `basicConstraints` says `CA:TRUE`.
    pub(crate) is_ca: bool,
    /// `Some(false)` when a keyUsage extension is present without
    /// digitalSignature; `None` when there is no keyUsage extension.
    pub(crate) digital_signature: Option<bool>,
}

impl Leaf {
    /// Parses a DER certificate.
    pub(crate) fn parse(der: &[u8]) -> Result<Self, PeerError> {
        let malformed = |reason: String| PeerError::Malformed { reason };
        let (rest, cert) =
            x509_parser::parse_x509_certificate(der).map_err(|e| malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(malformed("trailing bytes after the certificate".into()));
        }
        let uri_sans = match cert.subject_alternative_name() {
            Ok(Some(san)) => san
                .value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::URI(uri) => Some((*uri).to_owned()),
                    _ => None,
                })
                .collect(),
            Ok(None) => Vec::new(),
            Err(e) => return Err(malformed(format!("subjectAltName: {e}"))),
        };
        let is_ca = match cert.basic_constraints() {
            Ok(bc) => bc.is_some_and(|bc| bc.value.ca),
            Err(e) => return Err(malformed(format!("basicConstraints: {e}"))),
        };
        let digital_signature = match cert.key_usage() {
            Ok(ku) => ku.map(|ku| ku.value.digital_signature()),
            Err(e) => return Err(malformed(format!("keyUsage: {e}"))),
        };
        let validity = cert.validity();
        Ok(Self {
            uri_sans,
            not_before: system_time(validity.not_before),
            not_after: system_time(validity.not_after),
            is_ca,
            digital_signature,
        })
    }

    /// The SPIFFE ID carried as the certificate's only URI SAN.
    pub(crate) fn spiffe_id(&self) -> Result<SpiffeId, PeerError> {
        match self.uri_sans.as_slice() {
            [] => Err(PeerError::NoUriSan),
            [uri] => uri.parse().map_err(PeerError::NotSpiffe),
            many => Err(PeerError::MultipleUriSans { count: many.len() }),
        }
    }
}

fn system_time(t: ASN1Time) -> SystemTime {
    let secs = t.timestamp();
    match u64::try_from(secs) {
        Ok(after) => UNIX_EPOCH + Duration::from_secs(after),
        Err(_) => UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()),
    }
}
