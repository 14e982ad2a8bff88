//! Keyed pseudonyms for identifiers.
//!
//! A pseudonym is `<prefix>-<20 hex digits>`: the first 80 bits of the
//! BLAKE3 keyed hash of the identifier, domain-separated so that a card id
//! and a person id that happen to be equal get unrelated pseudonyms. The key
//! is random per store and kept outside the analytical data; without it a
//! pseudonym cannot be reversed or recomputed from a guessed id.

use crate::schema::IdDomain;

/// The secret key of a store's pseudonyms.
#[derive(Clone)]
pub struct PseudonymKey([u8; 32]);

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PseudonymKey(<secret>)")
    }
}

impl PseudonymKey {
    /// Wraps 32 secret bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        PseudonymKey(bytes)
    }

    /// Parses the 64-hex-digit form written in the key file.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let hex = hex.trim();
        if hex.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, chunk) in hex.as_bytes().chunks(2).enumerate() {
            let s = std::str::from_utf8(chunk).ok()?;
            out[i] = u8::from_str_radix(s, 16).ok()?;
        }
        Some(PseudonymKey(out))
    }

    /// The 64-hex-digit form.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The pseudonym of `id` in `domain`.
    pub fn pseudonym(&self, domain: IdDomain, id: &str) -> String {
        let mut out = String::with_capacity(22);
        self.pseudonym_into(domain, id, &mut out);
        out
    }

    /// Writes the pseudonym of `id` into `out` (cleared first), without allocating.
    pub fn pseudonym_into(&self, domain: IdDomain, id: &str, out: &mut String) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut h = blake3::Hasher::new_keyed(&self.0);
        h.update(domain.prefix().as_bytes());
        h.update(&[0]);
        h.update(id.as_bytes());
        let digest = h.finalize();
        out.clear();
        out.push_str(domain.prefix());
        out.push('-');
        for b in &digest.as_bytes()[..10] {
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_keyed_stable_and_domain_separated() {
        let k1 = PseudonymKey::from_bytes([7; 32]);
        let k2 = PseudonymKey::from_bytes([8; 32]);
        let a = k1.pseudonym(IdDomain::Person, "P00001");
        assert_eq!(a, k1.pseudonym(IdDomain::Person, "P00001"));
        assert_eq!(a.len(), 22);
        assert!(a.starts_with("p-"));
        assert_ne!(a, k2.pseudonym(IdDomain::Person, "P00001"));
        assert_ne!(&a[2..], &k1.pseudonym(IdDomain::Card, "P00001")[2..]);
        assert_ne!(a, k1.pseudonym(IdDomain::Person, "P00002"));
        assert!(!a.contains("P00001"));
    }

    #[test]
    fn key_hex_round_trips_and_rejects_bad_text() {
        let k = PseudonymKey::from_bytes([0xab; 32]);
        let back = PseudonymKey::from_hex(&k.to_hex()).unwrap();
        assert_eq!(back.to_hex(), k.to_hex());
        assert!(PseudonymKey::from_hex("abc").is_none());
        assert!(PseudonymKey::from_hex(&"zz".repeat(32)).is_none());
        assert!(!format!("{k:?}").contains("ab"));
    }
}
