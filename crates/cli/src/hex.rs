//! Hex text to bytes, in the forms the conformance suite and its runner use.

/// Why a hex string could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HexError {
    /// A character that is neither a hex digit nor white space.
    #[error("invalid hex digit {ch:?} at position {pos}")]
    BadDigit {
        /// The character found.
        ch: char,
        /// Its byte position in the input.
        pos: usize,
    },
    /// An odd number of digits in one run of digits.
    #[error("odd number of hex digits in {token:?}")]
    OddLength {
        /// The run of digits.
        token: String,
    },
}

/// Parse bytes written as hex digit pairs, with or without white space between them
/// (`"aa bb 11"`, `"aabb11"`, or `"aa\nbb"`). An optional `0x` prefix on a run is allowed.
pub fn parse_hex_bytes(text: &str) -> Result<Vec<u8>, HexError> {
    let mut out = Vec::new();
    let mut base = 0;
    for token in text.split_whitespace() {
        let start = text[base..].find(token).map_or(base, |i| base + i);
        base = start + token.len();
        let digits = token
            .strip_prefix("0x")
            .or_else(|| token.strip_prefix("0X"))
            .unwrap_or(token);
        let skipped = token.len() - digits.len();
        if let Some((i, ch)) = digits.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
            return Err(HexError::BadDigit {
                ch,
                pos: start + skipped + i,
            });
        }
        if digits.len() % 2 != 0 {
            return Err(HexError::OddLength {
                token: token.to_string(),
            });
        }
        for pair in digits.as_bytes().chunks_exact(2) {
            // Both are ASCII hex digits, checked above.
            let s = std::str::from_utf8(pair).unwrap_or("00");
            out.push(u8::from_str_radix(s, 16).unwrap_or(0));
        }
    }
    Ok(out)
}

/// Format bytes as space-separated hex pairs.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(parse_hex_bytes("aa bb 11").unwrap(), vec![0xaa, 0xbb, 0x11]);
        assert_eq!(parse_hex_bytes("aabb11").unwrap(), vec![0xaa, 0xbb, 0x11]);
        assert_eq!(parse_hex_bytes(" 0xAA\n\tbB ").unwrap(), vec![0xaa, 0xbb]);
        assert_eq!(parse_hex_bytes("").unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse_hex_bytes("ab c").unwrap_err(),
            HexError::OddLength { token: "c".into() }
        );
        assert_eq!(
            parse_hex_bytes("ab zz").unwrap_err(),
            HexError::BadDigit { ch: 'z', pos: 3 }
        );
        assert!(parse_hex_bytes("é").is_err());
    }

    #[test]
    fn round_trip() {
        let b = vec![0, 1, 0x7f, 0x80, 0xff];
        assert_eq!(parse_hex_bytes(&to_hex(&b)).unwrap(), b);
    }
}
