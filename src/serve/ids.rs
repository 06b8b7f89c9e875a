//! Clock and randomness in, identifiers out: build ids shaped like MongoDB object ids, and access tokens.

/// Makes build ids the way MongoDB makes object ids: 4 bytes of Unix seconds,
/// 5 random bytes fixed for this process, 3 bytes of a counter.
///
/// The time prefix keeps ids roughly ordered, the counter keeps ids of one
/// process apart within a second, and the random middle keeps two processes
/// (say, before and after a restart on the same data dir) apart.
#[derive(Debug, Clone)]
pub struct IdGen {
    process: [u8; 5],
    counter: u32,
}

impl IdGen {
    pub fn new() -> IdGen {
        IdGen::with_parts(rand::random(), rand::random())
    }

    pub fn with_parts(process: [u8; 5], counter: u32) -> IdGen {
        IdGen { process, counter }
    }

    /// The next id, 24 lowercase hex digits.
    pub fn next(&mut self, unix_secs: u64) -> String {
        // Truncation to 32 bits is what object ids do; it wraps in 2106.
        let time = (unix_secs as u32).to_be_bytes();
        let count = self.counter.to_be_bytes();
        self.counter = self.counter.wrapping_add(1) & 0x00ff_ffff;
        let mut bytes = [0u8; 12];
        bytes[..4].copy_from_slice(&time);
        bytes[4..9].copy_from_slice(&self.process);
        bytes[9..].copy_from_slice(&count[1..]);
        hex(&bytes)
    }
}

impl Default for IdGen {
    fn default() -> Self {
        IdGen::new()
    }
}

/// A fresh access token: 32 random bytes, hex.
pub fn new_token() -> String {
    hex(&rand::random::<[u8; 32]>())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::is_object_id;

    fn is_lower_hex(s: &str) -> bool {
        s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }

    #[test]
    fn ids_are_object_ids_with_time_process_and_counter() {
        let cases = [
            // (unix secs, process, counter, want)
            (0, [0; 5], 0, "000000000000000000000000"),
            (
                0x66787d8f,
                [0x69, 0x4a, 0xa0, 0x83, 0xbb],
                0xdf9aa9,
                "66787d8f694aa083bbdf9aa9",
            ),
            (1, [0xff; 5], 0x00ff_ffff, "00000001ffffffffffffffff"),
        ];
        for (secs, process, counter, want) in cases {
            let id = IdGen::with_parts(process, counter).next(secs);
            assert_eq!(id, want);
            assert!(is_object_id(&id) && is_lower_hex(&id), "{id}");
        }
    }

    #[test]
    fn counter_moves_on_and_wraps_at_24_bits() {
        let mut ids = IdGen::with_parts([7; 5], 0x00ff_fffe);
        let a = ids.next(5);
        let b = ids.next(5);
        let c = ids.next(5);
        assert!(a.ends_with("fffffe") && b.ends_with("ffffff") && c.ends_with("000000"));
        assert_ne!(a, b);
    }

    #[test]
    fn many_ids_in_one_second_are_unique() {
        let mut ids = IdGen::new();
        let all: std::collections::HashSet<String> = (0..10_000).map(|_| ids.next(42)).collect();
        assert_eq!(all.len(), 10_000);
    }

    #[test]
    fn tokens_are_long_random_hex() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 64);
        assert!(is_lower_hex(&a));
        assert_ne!(a, b);
    }
}
