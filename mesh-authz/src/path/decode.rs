//! Percent-decoding, once, of what is safe to decode.

use super::PathError;

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Decodes `path` once: percent-encoded unreserved characters
/// (`A-Z a-z 0-9 - . _ ~`) become themselves, `%2F`, `%5C` and a raw `\`
/// become `/`, and every other percent-encoding is kept with uppercase hex
/// (`%25` stays `%25`, so `%252F` stays `%252F`).
///
/// Refuses malformed percent-encoding, encoded or raw control characters,
/// raw spaces and non-ASCII bytes.
pub(super) fn decode(path: &str) -> Result<String, PathError> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        if byte != b'%' {
            out.push(raw(byte, at)?);
            at += 1;
            continue;
        }
        let (Some(hi), Some(lo)) = (hex(bytes.get(at + 1)), hex(bytes.get(at + 2))) else {
            return Err(PathError::InvalidPercentEncoding { at });
        };
        let decoded = hi << 4 | lo;
        match decoded {
            b'/' | b'\\' => out.push('/'),
            _ if is_unreserved(decoded) => out.push(char::from(decoded)),
            _ if decoded.is_ascii_control() => {
                return Err(PathError::EncodedControl { byte: decoded, at });
            }
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(hi)]));
                out.push(char::from(HEX[usize::from(lo)]));
            }
        }
        at += 3;
    }
    Ok(out)
}

/// A byte as it appears in the path, `\` turned into `/`.
fn raw(byte: u8, at: usize) -> Result<char, PathError> {
    match byte {
        b'\\' => Ok('/'),
        _ if byte.is_ascii_control() => Err(PathError::Control { byte, at }),
        b'!'..=b'~' => Ok(char::from(byte)),
        _ => Err(PathError::InvalidCharacter { at }),
    }
}

fn hex(byte: Option<&u8>) -> Option<u8> {
    char::from(*byte?)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_only_what_is_safe() {
        for (raw, decoded) in [
            ("/%61dmin", "/admin"),
            ("/%41%7a%30%2D%2e%5F%7E", "/Az0-._~"),
            ("/%2F%2f%5C%5c\\", "//////"),
            ("/a%20b", "/a%20b"),
            ("/a%3fb%3Fc", "/a%3Fb%3Fc"),
            ("/%252F", "/%252F"),
            ("/%25", "/%25"),
            ("/%c3%a9", "/%C3%A9"),
            ("/;a=b,c", "/;a=b,c"),
        ] {
            assert_eq!(decode(raw).unwrap(), decoded, "{raw}");
        }
    }

    #[test]
    fn refuses_malformed_and_control() {
        use PathError::*;
        for (raw, err) in [
            ("/%zz", InvalidPercentEncoding { at: 1 }),
            ("/a%2", InvalidPercentEncoding { at: 2 }),
            ("/a%", InvalidPercentEncoding { at: 2 }),
            ("/%+1", InvalidPercentEncoding { at: 1 }),
            ("/a%00", EncodedControl { byte: 0, at: 2 }),
            ("/%0a", EncodedControl { byte: b'\n', at: 1 }),
            ("/%7F", EncodedControl { byte: 0x7f, at: 1 }),
            ("/a\0", Control { byte: 0, at: 2 }),
            ("/\t", Control { byte: b'\t', at: 1 }),
            ("/\x7f", Control { byte: 0x7f, at: 1 }),
            ("/a b", InvalidCharacter { at: 2 }),
            ("/é", InvalidCharacter { at: 1 }),
        ] {
            assert_eq!(decode(raw), Err(err), "{raw:?}");
        }
    }
}
