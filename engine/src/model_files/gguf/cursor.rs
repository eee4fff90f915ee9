//! A bounds-checked little-endian reader over the mapped file. Every read checks what is left
//! before touching a byte, so a truncated or lying header ends in an error, never a panic.
use std::ops::Range;

/// Parser errors are plain messages; [`super::container`] adds the file name.
pub type PResult<T> = std::result::Result<T, String>;

pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8], pos: usize) -> Self {
        Cursor { buf, pos }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// The next `n` bytes as a range of the buffer; `what` names the field in the error.
    pub fn take(&mut self, n: u64, what: &str) -> PResult<Range<usize>> {
        let n = usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.remaining())
            .ok_or_else(|| {
                format!(
                    "{what} needs {n} bytes at offset {} but only {} remain in the file",
                    self.pos,
                    self.remaining()
                )
            })?;
        let r = self.pos..self.pos + n;
        self.pos += n;
        Ok(r)
    }

    fn array<const N: usize>(&mut self, what: &str) -> PResult<[u8; N]> {
        let r = self.take(N as u64, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(&self.buf[r]);
        Ok(out)
    }

    pub fn u8(&mut self, what: &str) -> PResult<u8> {
        Ok(self.array::<1>(what)?[0])
    }
    pub fn u16(&mut self, what: &str) -> PResult<u16> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    pub fn u32(&mut self, what: &str) -> PResult<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    pub fn u64(&mut self, what: &str) -> PResult<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A GGUF string (u64 length + bytes) of at most `cap` bytes, as a range of the buffer.
    pub fn string(&mut self, cap: u64, what: &str) -> PResult<Range<usize>> {
        let len = self.u64(what)?;
        if len > cap {
            return Err(format!(
                "{what} at offset {} is {len} bytes long, over the limit of {cap}",
                self.pos - 8
            ));
        }
        self.take(len, what)
    }

    /// The bytes of a range previously returned by this cursor.
    pub fn slice(&self, r: Range<usize>) -> &'a [u8] {
        &self.buf[r]
    }
}
