//! The one SPIFFE ID a CSR or a certificate speaks for: its single URI SAN.

use mesh_identity::SpiffeId;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::X509Certificate;

use crate::CaError;

/// The URI SANs among a list of extensions.
pub(crate) fn uri_sans<'a>(
    extensions: impl IntoIterator<Item = &'a ParsedExtension<'a>>,
) -> Vec<String> {
    let mut uris = Vec::new();
    for ext in extensions {
        if let ParsedExtension::SubjectAlternativeName(san) = ext {
            for name in &san.general_names {
                if let GeneralName::URI(uri) = name {
                    uris.push((*uri).to_owned());
                }
            }
        }
    }
    uris
}

/// The URI SANs of a certificate.
pub(crate) fn cert_uri_sans(cert: &X509Certificate<'_>) -> Vec<String> {
    uri_sans(cert.extensions().iter().map(|e| e.parsed_extension()))
}

/// The single SPIFFE ID in `uris`, which must be in `trust_domain`.
pub(crate) fn single_spiffe_id(uris: &[String], trust_domain: &str) -> Result<SpiffeId, CaError> {
    let uri = match uris {
        [] => return Err(CaError::NoIdentity),
        [uri] => uri,
        _ => {
            return Err(CaError::MultipleIdentities {
                uris: uris.to_vec(),
            });
        }
    };
    let id: SpiffeId = uri.parse()?;
    if id.trust_domain() != trust_domain {
        return Err(CaError::WrongTrustDomain {
            id,
            trust_domain: trust_domain.to_owned(),
        });
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(uris: &[&str]) -> Vec<String> {
        uris.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn exactly_one_id_in_the_trust_domain() {
        let td = "cluster.local";
        let ok = single_spiffe_id(&v(&["spiffe://cluster.local/ns/a/sa/b"]), td).unwrap();
        assert_eq!(ok.service_account(), "b");
        assert!(matches!(
            single_spiffe_id(&[], td),
            Err(CaError::NoIdentity)
        ));
        let two = v(&[
            "spiffe://cluster.local/ns/a/sa/b",
            "spiffe://cluster.local/ns/a/sa/c",
        ]);
        let err = single_spiffe_id(&two, td).unwrap_err();
        assert!(err.to_string().starts_with("2 uri sans"), "{err}");
        let err = single_spiffe_id(&v(&["https://example.com"]), td).unwrap_err();
        assert!(matches!(err, CaError::InvalidIdentity(_)), "{err}");
        let err = single_spiffe_id(&v(&["spiffe://other.org/ns/a/sa/b"]), td).unwrap_err();
        assert!(matches!(err, CaError::WrongTrustDomain { .. }), "{err}");
    }
}
