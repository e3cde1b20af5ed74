//! Why a request path was refused.

/// A request path [`normalize`](super::normalize) refuses; the message
/// says what is wrong and suits a `400 Bad Request` body. Positions are
/// byte offsets into the path (before the query).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path is empty or does not start with `/` (`*`, `\admin`, an
    /// absolute URI...).
    #[error("request path must start with `/`")]
    NotAbsolute,
    /// A `%` not followed by two hex digits.
    #[error("invalid percent-encoding at byte {at} of the request path")]
    InvalidPercentEncoding {
        /// Where the `%` is.
        at: usize,
    },
    /// A percent-encoded NUL or other control character, such as `%00`.
    #[error("request path contains an encoded control character (%{byte:02X}) at byte {at}")]
    EncodedControl {
        /// The decoded byte.
        byte: u8,
        /// Where the `%` is.
        at: usize,
    },
    /// A raw NUL or other control character.
    #[error("request path contains a control character (0x{byte:02x}) at byte {at}")]
    Control {
        /// The byte.
        byte: u8,
        /// Where it is.
        at: usize,
    },
    /// A raw space or non-ASCII byte, which a URI cannot carry unencoded.
    #[error("request path contains a character not allowed in a URI at byte {at}")]
    InvalidCharacter {
        /// Where it is.
        at: usize,
    },
}
