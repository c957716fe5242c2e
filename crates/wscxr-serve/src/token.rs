//! The bearer token that `--token-file` requires on every route but `/healthz`.

use std::path::Path;

use subtle::ConstantTimeEq;

use crate::error::ServeError;

/// A secret that requests present as `Authorization: Bearer <token>`. Never printed.
#[derive(Clone)]
pub struct Token(Vec<u8>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

/// Fewer bytes than this are guessable.
const MIN_TOKEN_BYTES: usize = 16;

impl Token {
    /// The token in `file` (its first line, without surrounding white space), at least 16
    /// bytes of printable ASCII.
    pub fn read(file: &Path) -> Result<Self, ServeError> {
        let error = |reason: String| ServeError::Token {
            path: file.to_path_buf(),
            reason,
        };
        let meta = std::fs::metadata(file).map_err(|e| error(e.to_string()))?;
        if meta.len() > 4096 {
            return Err(error(format!(
                "{} bytes: a token file holds one line",
                meta.len()
            )));
        }
        let text = std::fs::read_to_string(file).map_err(|e| error(e.to_string()))?;
        Self::new(text.lines().next().unwrap_or("").trim()).map_err(error)
    }

    /// A token from its text.
    pub fn new(text: &str) -> Result<Self, String> {
        if text.len() < MIN_TOKEN_BYTES {
            return Err(format!(
                "the token has {} bytes, fewer than {MIN_TOKEN_BYTES}",
                text.len()
            ));
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("the token must be printable ASCII without spaces".into());
        }
        Ok(Self(text.as_bytes().to_vec()))
    }

    /// Whether an `Authorization` header's value presents this token. The comparison takes the
    /// same time wherever the first differing byte is.
    pub fn admits(&self, authorization: Option<&[u8]>) -> bool {
        let Some(value) = authorization else {
            return false;
        };
        let Some(presented) = value.strip_prefix(b"Bearer ") else {
            return false;
        };
        // `ct_eq` on slices of different lengths returns false at once; that reveals the
        // length only, which a 16-byte minimum makes worthless.
        bool::from(presented.ct_eq(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_is_admitted() {
        let token = Token::new("0123456789abcdef-secret").unwrap();
        assert!(token.admits(Some(b"Bearer 0123456789abcdef-secret")));
        assert!(!token.admits(Some(b"Bearer 0123456789abcdef-secreT")));
        assert!(!token.admits(Some(b"Bearer 0123456789abcdef-secre")));
        assert!(!token.admits(Some(b"bearer 0123456789abcdef-secret")));
        assert!(!token.admits(Some(b"0123456789abcdef-secret")));
        assert!(!token.admits(None));
        assert!(Token::new("short").is_err());
        assert!(Token::new("0123456789abcdef secret").is_err());
        assert_eq!(format!("{token:?}"), "Token(..)");
    }
}
