//! The two primitives everything else builds on, from the crate's one crypto
//! provider (aws-lc-rs): the system's CSPRNG and SHA-256.

/// Fills `buf` from the operating system's CSPRNG (through aws-lc-rs, the crate's
/// one crypto provider).
#[cfg(feature = "server")]
pub fn random_bytes(buf: &mut [u8]) {
    // The system RNG failing is not a condition tessera can serve through: there is
    // no safe fallback for key, id or token material.
    #[allow(clippy::expect_used)]
    aws_lc_rs::rand::fill(buf).expect("the system random number generator failed");
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}
