//! Secrets: upstream passwords encrypted at rest, tokens hashed and compared
//! in constant time.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{CoreError, Result};

/// Format byte of stored ciphertexts, so the scheme can change later.
const SEALED_V1: u8 = 1;
const NONCE_LEN: usize = 12;
/// Binds ciphertexts to their use: a sealed password is no use as anything else.
const PASSWORD_AAD: &[u8] = b"vreg upstream password";

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(&sha256(data))
}

/// FNV-1a, 64 bits: a stable and cheap hash that spreads names over
/// keys (SHA-256 in the component was a tenth of a cached read's own
/// work). Anyone can make two names collide, so what is found through it
/// either carries its full name, checked on reading, or is only a hint.
pub fn name_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Lower-case hex, by table: a cached read hashes its key, and `write!`
/// per byte was a tenth of a cached pom's time in the component.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)].into());
        out.push(DIGITS[usize::from(b & 15)].into());
    }
    out
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    // The OS (or wasi:random) failing to give entropy is not recoverable.
    getrandom::fill(&mut out).expect("no entropy source");
    out
}

/// True once in `n` calls, at random: how work that rides on traffic is
/// spread so that most requests pay nothing for it.
pub fn one_in(n: u8) -> bool {
    random_bytes::<1>()[0].is_multiple_of(n)
}

/// Equality that takes the same time wherever the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// A fresh API token: a prefix people can grep for, and 256 random bits.
pub fn new_token() -> String {
    format!("vreg_{}", hex(&random_bytes::<32>()))
}

/// Encrypts and decrypts upstream passwords with a key derived from the
/// `secret_key` variable (ChaCha20-Poly1305, random nonce per value).
pub struct PasswordSealer {
    cipher: ChaCha20Poly1305,
}

impl PasswordSealer {
    pub fn new(secret_key: &str) -> Self {
        let key = sha256(&[b"vreg password key v1\0".as_slice(), secret_key.as_bytes()].concat());
        PasswordSealer {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
        }
    }

    pub fn seal(&self, password: &str) -> Vec<u8> {
        let nonce = random_bytes::<NONCE_LEN>();
        let ciphertext = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: password.as_bytes(),
                    aad: PASSWORD_AAD,
                },
            )
            .expect("ChaCha20-Poly1305 encryption cannot fail for in-memory input");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        out.push(SEALED_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    /// Fails when the value was sealed with another key or was tampered with.
    pub fn open(&self, sealed: &[u8]) -> Result<String> {
        let bad = || {
            CoreError::Store(crate::storage::StoreError::Other(
                "upstream password cannot be decrypted (was secret_key changed?)".into(),
            ))
        };
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != SEALED_V1 {
            return Err(bad());
        }
        let (nonce, ciphertext) = sealed[1..].split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: PASSWORD_AAD,
                },
            )
            .map_err(|_| bad())?;
        String::from_utf8(plain).map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_password_round_trips_and_hides_plaintext() {
        let sealer = PasswordSealer::new("k1");
        let sealed = sealer.seal("hunter2");
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(sealer.open(&sealed).unwrap(), "hunter2");
        // Same password twice gives different ciphertexts (random nonce).
        assert_ne!(sealed, sealer.seal("hunter2"));
    }

    #[test]
    fn wrong_key_or_tampering_is_refused() {
        let sealed = PasswordSealer::new("k1").seal("hunter2");
        assert!(PasswordSealer::new("k2").open(&sealed).is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(PasswordSealer::new("k1").open(&tampered).is_err());
        assert!(PasswordSealer::new("k1").open(&[]).is_err());
    }

    #[test]
    fn name_hash_is_fnv_1a_64() {
        // The reference vectors of FNV-1a: keys made by one build are
        // found by the next.
        assert_eq!(name_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(name_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(name_hash(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn tokens_are_unique_and_hex() {
        let a = new_token();
        assert!(a.starts_with("vreg_") && a.len() == 5 + 64);
        assert_ne!(a, new_token());
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
