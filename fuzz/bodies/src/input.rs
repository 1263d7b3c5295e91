//! A reader of fuzz input: every call takes a few bytes and never fails, so
//! any byte string is a valid program (an exhausted input reads as zeros).

/// Reads typed values off the front of the fuzz input.
#[derive(Debug)]
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// One byte (0 once exhausted).
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// One bit of a byte.
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// A little-endian `u16`.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// A little-endian `u64`.
    pub fn u64(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        for b in &mut bytes {
            *b = self.u8();
        }
        u64::from_le_bytes(bytes)
    }

    /// A value below `n` (`n > 0`).
    pub fn below(&mut self, n: u8) -> u8 {
        self.u8() % n
    }

    /// Up to `n` bytes.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    /// A byte string whose length (at most `max`) comes first.
    pub fn short_bytes(&mut self, max: u8) -> &'a [u8] {
        let len = self.u8() % max.saturating_add(1).max(1);
        self.bytes(usize::from(len))
    }

    /// `bytes` as the network may deliver them: whole, or in two pieces
    /// split at a drawn point.
    pub fn pieces(&mut self, bytes: bytes::Bytes) -> Vec<bytes::Bytes> {
        let split = usize::from(self.u8()) % (bytes.len() + 1);
        if self.bool() {
            vec![bytes.slice(..split), bytes.slice(split..)]
        } else {
            vec![bytes]
        }
    }

    /// Whatever is left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }

    /// A `u64` drawn towards the edges that break arithmetic: near `base`,
    /// near zero, near `u64::MAX`, or anything.
    pub fn position_near(&mut self, base: u64) -> u64 {
        match self.below(8) {
            0..=3 => base.wrapping_add(u64::from(self.below(4))),
            4 => base.wrapping_sub(u64::from(self.below(4))),
            5 => u64::from(self.u8()),
            6 => u64::MAX - u64::from(self.below(4)),
            _ => self.u64(),
        }
    }
}
