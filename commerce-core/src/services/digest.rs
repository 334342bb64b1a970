//! Short hexadecimal digests: entity tags, request fingerprints and limiter keys whose size
//! must not depend on what they stand for.

use sha2::{Digest, Sha256};

/// The first `bytes` bytes (at most 32) of the SHA-256 of `data`, in lower-case hexadecimal.
pub(crate) fn sha256_hex(data: &[u8], bytes: usize) -> String {
    Sha256::digest(data)
        .iter()
        .take(bytes)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_of_the_digest_in_hex() {
        let whole = sha256_hex(b"abc", 32);
        assert_eq!(
            whole,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(sha256_hex(b"abc", 12), whole[..24]);
        assert_eq!(sha256_hex(b"abc", 64), whole);
    }
}
