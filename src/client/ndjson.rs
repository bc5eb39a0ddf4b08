//! Pure incremental NDJSON splitter for Ollama streams (no I/O).
//!
//! Ollama streams one JSON object per line. Reads arrive in pieces of any size; each
//! complete, non-blank line comes out through a callback as soon as its `\n` is seen
//! (a trailing `\r` is dropped). A line inside one read is passed without a copy; a line
//! spanning reads is assembled in a reused buffer. [`NdjsonSplitter::finish`] passes a
//! last line that has no `\n`.

use memchr::memchr;

/// Incremental line splitter.
#[derive(Debug, Default)]
pub struct NdjsonSplitter {
    /// A line started in an earlier read and not yet ended.
    line: Vec<u8>,
}

impl NdjsonSplitter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Split one read; call `f` for each complete non-blank line, in order.
    pub fn feed(&mut self, chunk: &[u8], mut f: impl FnMut(&[u8])) {
        let mut pos = 0;
        while pos < chunk.len() {
            let rest = &chunk[pos..];
            let Some(i) = memchr(b'\n', rest) else {
                self.line.extend_from_slice(rest);
                return;
            };
            if self.line.is_empty() {
                emit(&rest[..i], &mut f);
            } else {
                self.line.extend_from_slice(&rest[..i]);
                emit(&self.line, &mut f);
                self.line.clear();
            }
            pos += i + 1;
        }
    }

    /// End of stream: pass a last line that had no `\n`, and reset.
    pub fn finish(&mut self, mut f: impl FnMut(&[u8])) {
        if !self.line.is_empty() {
            emit(&self.line, &mut f);
            self.line.clear();
        }
    }
}

fn emit(line: &[u8], f: &mut impl FnMut(&[u8])) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if !line.trim_ascii().is_empty() {
        f(line);
    }
}

/// Split a whole byte stream at once (tests, tools).
pub fn split_all(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut s = NdjsonSplitter::new();
    let mut out = Vec::new();
    s.feed(bytes, |l| out.push(l.to_vec()));
    s.finish(|l| out.push(l.to_vec()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lines(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn splits_lines_and_skips_blanks() {
        let s = b"{\"response\":\"a\"}\n\n{\"response\":\"b\"}\r\n  \n{\"done\":true}";
        assert_eq!(
            split_all(s),
            lines(&[
                "{\"response\":\"a\"}",
                "{\"response\":\"b\"}",
                "{\"done\":true}"
            ])
        );
    }

    #[test]
    fn line_across_reads() {
        let mut s = NdjsonSplitter::new();
        let mut out = Vec::new();
        s.feed(b"{\"a\":", |l| out.push(l.to_vec()));
        assert!(out.is_empty());
        s.feed(b"1}\n{\"b\"", |l| out.push(l.to_vec()));
        s.feed(b":2}\n", |l| out.push(l.to_vec()));
        assert_eq!(out, lines(&["{\"a\":1}", "{\"b\":2}"]));
    }

    proptest! {
        #[test]
        fn any_split_gives_the_same_lines(
            bytes in prop::collection::vec(prop_oneof![
                Just(b'\n'), Just(b'\r'), Just(b'{'), Just(b'}'), Just(b' '), any::<u8>()
            ], 0..300),
            cuts in prop::collection::vec(any::<usize>(), 0..10),
        ) {
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.sort_unstable();
            let mut s = NdjsonSplitter::new();
            let mut out = Vec::new();
            let mut last = 0;
            for c in cuts {
                s.feed(&bytes[last..c], |l| out.push(l.to_vec()));
                last = c;
            }
            s.feed(&bytes[last..], |l| out.push(l.to_vec()));
            s.finish(|l| out.push(l.to_vec()));
            prop_assert_eq!(out, split_all(&bytes));
        }
    }
}
