//! The `.data` test-file format of the BPF conformance suite.
//!
//! A file is a header of `#` comments followed by sections that each start with a line
//! `-- NAME`: `asm` (assembler text), `raw` (bytecode, as 64-bit words `0x…` or as byte pairs),
//! `mem` (hex bytes handed to the program), `result` (expected r0) and `error` (expected
//! failure). Unknown sections (`c`, `no register offset`, …) are kept but mean nothing here.

use crate::hex::{HexError, parse_hex_bytes};

/// A parsed `.data` file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TestFile {
    /// Text of the `asm` section, if present.
    pub asm: Option<String>,
    /// Bytecode of the `raw` section, if present.
    pub raw: Option<Vec<u8>>,
    /// Bytes of the `mem` section (empty when absent).
    pub mem: Vec<u8>,
    /// Expected r0, if a `result` section is present.
    pub result: Option<u64>,
    /// Text of the `error` section, if present: the program must fail.
    pub error: Option<String>,
}

/// Why a `.data` file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TestFileError {
    /// Bad hex in `mem` or `raw`.
    #[error("section {section}: {source}")]
    Hex {
        /// The section name.
        section: String,
        /// The hex error.
        source: HexError,
    },
    /// A `raw` word or `result` that is not a number.
    #[error("section {section}: cannot read {text:?} as a number")]
    Number {
        /// The section name.
        section: String,
        /// The text.
        text: String,
    },
}

fn parse_u64(section: &str, text: &str) -> Result<u64, TestFileError> {
    let t = text.trim();
    let r = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => t.parse::<u64>(),
    };
    r.map_err(|_| TestFileError::Number {
        section: section.into(),
        text: t.into(),
    })
}

impl TestFile {
    /// Parse the text of a `.data` file.
    pub fn parse(text: &str) -> Result<TestFile, TestFileError> {
        let mut sections: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if let Some(name) = line.strip_prefix("--") {
                sections.push((name.trim().to_string(), String::new()));
            } else if let Some((_, body)) = sections.last_mut() {
                body.push_str(line);
                body.push('\n');
            }
        }
        let mut file = TestFile::default();
        for (name, body) in sections {
            match name.as_str() {
                "asm" => file.asm = Some(body),
                "mem" => {
                    file.mem = parse_hex_bytes(&body).map_err(|source| TestFileError::Hex {
                        section: name.clone(),
                        source,
                    })?;
                }
                "raw" => file.raw = Some(parse_raw(&body)?),
                "result" => {
                    let t = body
                        .lines()
                        .map(str::trim)
                        .find(|l| !l.is_empty() && !l.starts_with('#'));
                    if let Some(t) = t {
                        file.result = Some(parse_u64("result", t)?);
                    }
                }
                "error" => file.error = Some(body.trim().to_string()),
                _ => {}
            }
        }
        Ok(file)
    }
}

/// `raw` is either one 64-bit word per line (`0x5566778800000018`, the instruction as a
/// little-endian u64) or lines of byte pairs (`07 00 01 00 01 00 00 00`).
fn parse_raw(body: &str) -> Result<Vec<u8>, TestFileError> {
    let mut out = Vec::new();
    for line in body
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
    {
        if line.is_empty() {
            continue;
        }
        if line.starts_with("0x") && !line.contains(' ') {
            out.extend_from_slice(&parse_u64("raw", line)?.to_le_bytes());
        } else {
            out.extend(parse_hex_bytes(line).map_err(|source| TestFileError::Hex {
                section: "raw".into(),
                source,
            })?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections() {
        let f = TestFile::parse(
            "# c\n-- asm\nmov %r0, 1\nexit\n-- mem\naa bb\n-- raw\n0x0000000000000095\n-- result\n0x1\n-- no register offset\nx\n",
        )
        .unwrap();
        assert_eq!(f.asm.as_deref(), Some("mov %r0, 1\nexit\n"));
        assert_eq!(f.mem, vec![0xaa, 0xbb]);
        assert_eq!(f.raw, Some(vec![0x95, 0, 0, 0, 0, 0, 0, 0]));
        assert_eq!(f.result, Some(1));
        assert_eq!(f.error, None);
    }

    #[test]
    fn raw_bytes_and_error() {
        let f = TestFile::parse("-- raw\n07 00 01 00 01 00 00 00\n-- error\n").unwrap();
        assert_eq!(f.raw.unwrap(), vec![7, 0, 1, 0, 1, 0, 0, 0]);
        assert_eq!(f.error.as_deref(), Some(""));
    }

    #[test]
    fn unknown_directive_ends_asm() {
        let f = TestFile::parse("-- asm\n-- Unknown directive\n-- error\nInvalid").unwrap();
        assert_eq!(f.asm.as_deref(), Some(""));
    }
}
