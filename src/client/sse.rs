//! Pure incremental Server-Sent-Events parser (no I/O).
//!
//! Bytes go in as they arrive, in pieces of any size; complete events come out through a
//! callback, in order, as soon as the blank line that ends each one has been seen. The
//! caller stamps the time inside the callback, so every event gets its own instant even
//! when several arrive in one read.
//!
//! Follows the WHATWG `text/event-stream` rules that matter for LLM streams:
//! - lines end in CRLF, LF or a lone CR (a CRLF split across two reads is one line end);
//! - `data:` with or without one following space; several `data:` lines of one event are
//!   joined with `\n`; a bare `data` line is an empty data line;
//! - lines starting with `:` are comments (heartbeats) and are skipped;
//! - other fields (`event:`, `id:`, `retry:`, unknown names) are ignored;
//! - an event with no data line dispatches nothing.
//!
//! One deliberate leniency: [`SseParser::finish`] dispatches an event left open at end of
//! stream (the spec discards it), because some servers omit the final blank line and the
//! data is still what they sent. Whether the stream ended *properly* is judged by the
//! caller from the `[DONE]` / finish markers, not here.
//!
//! Cost: two `memchr` scans per typical `data: {...}\n\n` event, and no copy at all when an
//! event lies entirely inside one read; buffers are reused across events.

use memchr::memchr2;

/// One item parsed out of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseItem<'a> {
    /// The data of one event (multi-line data joined with `\n`). Borrowed from the read
    /// or from the parser's buffer; valid only inside the callback.
    Data(&'a [u8]),
    /// The OpenAI end-of-stream sentinel: an event whose data is `[DONE]`.
    Done,
}

impl SseItem<'_> {
    /// An owned copy, for tests and tools that collect items.
    pub fn to_owned_item(&self) -> OwnedSseItem {
        match self {
            SseItem::Data(d) => OwnedSseItem::Data(d.to_vec()),
            SseItem::Done => OwnedSseItem::Done,
        }
    }
}

/// An owned [`SseItem`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedSseItem {
    Data(Vec<u8>),
    Done,
}

/// Incremental SSE parser. Feed it reads with [`feed`](Self::feed); call
/// [`finish`](Self::finish) at end of stream.
#[derive(Debug, Default)]
pub struct SseParser {
    /// A line started in an earlier read and not yet ended.
    line: Vec<u8>,
    /// Data of the current event when it could not be borrowed from a read.
    data: Vec<u8>,
    /// The current event has at least one data line (in `data`).
    has_data: bool,
    /// The previous read ended with CR: a LF at the start of the next read belongs to it.
    pending_cr: bool,
}

/// Where the data of the event being assembled lives while inside one `feed` call.
enum Pending<'c> {
    /// No data line yet, or data held in the parser's own buffer.
    None,
    /// Exactly one data line so far, lying inside the current read: no copy needed.
    Borrowed(&'c [u8]),
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parse one read; call `f` for each complete event, in order.
    pub fn feed(&mut self, chunk: &[u8], mut f: impl FnMut(SseItem<'_>)) {
        let mut pos = 0;
        if self.pending_cr && !chunk.is_empty() {
            self.pending_cr = false;
            if chunk.first() == Some(&b'\n') {
                pos = 1;
            }
        }
        let mut pending = Pending::None;
        while pos < chunk.len() {
            let rest = &chunk[pos..];
            let Some(i) = memchr2(b'\n', b'\r', rest) else {
                self.line.extend_from_slice(rest);
                break;
            };
            let end = pos + i;
            let next = if chunk[end] == b'\r' {
                match chunk.get(end + 1) {
                    Some(b'\n') => end + 2,
                    Some(_) => end + 1,
                    None => {
                        self.pending_cr = true;
                        end + 1
                    }
                }
            } else {
                end + 1
            };
            if self.line.is_empty() {
                self.line_from_read(&chunk[pos..end], &mut pending, &mut f);
            } else {
                self.line.extend_from_slice(&chunk[pos..end]);
                let line = std::mem::take(&mut self.line);
                self.spill(&mut pending);
                self.line_owned(&line, &mut f);
                self.line = line;
                self.line.clear();
            }
            pos = next;
        }
        // The read ends inside an event: keep its data for the next read.
        self.spill(&mut pending);
    }

    /// End of stream: dispatch what is left (a last line without its line end, an event
    /// without its blank line) and reset for reuse.
    pub fn finish(&mut self, mut f: impl FnMut(SseItem<'_>)) {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.line_owned(&line, &mut f);
            self.line = line;
            self.line.clear();
        }
        if self.has_data {
            dispatch(&self.data, &mut f);
        }
        self.reset();
    }

    /// Forget any partial state (e.g. to reuse the parser for another stream).
    pub fn reset(&mut self) {
        self.line.clear();
        self.data.clear();
        self.has_data = false;
        self.pending_cr = false;
    }

    /// Move borrowed data into the parser's buffer.
    fn spill(&mut self, pending: &mut Pending<'_>) {
        if let Pending::Borrowed(d) = std::mem::replace(pending, Pending::None) {
            self.data.clear();
            self.data.extend_from_slice(d);
            self.has_data = true;
        }
    }

    /// A complete line lying inside the current read.
    fn line_from_read<'c>(
        &mut self,
        line: &'c [u8],
        pending: &mut Pending<'c>,
        f: &mut impl FnMut(SseItem<'_>),
    ) {
        if line.is_empty() {
            match std::mem::replace(pending, Pending::None) {
                Pending::Borrowed(d) => dispatch(d, f),
                Pending::None => {
                    if self.has_data {
                        dispatch(&self.data, f);
                    }
                }
            }
            self.data.clear();
            self.has_data = false;
            return;
        }
        let Some(value) = data_value(line) else {
            return;
        };
        if !self.has_data && matches!(pending, Pending::None) {
            *pending = Pending::Borrowed(value);
        } else {
            self.spill(pending);
            self.data.push(b'\n');
            self.data.extend_from_slice(value);
        }
    }

    /// A complete line assembled in the parser's buffer (it spanned reads).
    fn line_owned(&mut self, line: &[u8], f: &mut impl FnMut(SseItem<'_>)) {
        if line.is_empty() {
            if self.has_data {
                dispatch(&self.data, f);
            }
            self.data.clear();
            self.has_data = false;
            return;
        }
        let Some(value) = data_value(line) else {
            return;
        };
        if self.has_data {
            self.data.push(b'\n');
        }
        self.data.extend_from_slice(value);
        self.has_data = true;
    }
}

/// The value of a `data` field line, or `None` for comments and other fields.
fn data_value(line: &[u8]) -> Option<&[u8]> {
    if line[0] == b':' {
        return None;
    }
    let (name, value) = match memchr::memchr(b':', line) {
        Some(c) => {
            let v = &line[c + 1..];
            (&line[..c], v.strip_prefix(b" ").unwrap_or(v))
        }
        None => (line, &line[line.len()..]),
    };
    (name == b"data").then_some(value)
}

fn dispatch(data: &[u8], f: &mut impl FnMut(SseItem<'_>)) {
    if data.trim_ascii() == b"[DONE]" {
        f(SseItem::Done);
    } else {
        f(SseItem::Data(data));
    }
}

/// Parse a whole byte stream at once (tests, tools).
pub fn parse_all(bytes: &[u8]) -> Vec<OwnedSseItem> {
    let mut p = SseParser::new();
    let mut out = Vec::new();
    p.feed(bytes, |i| out.push(i.to_owned_item()));
    p.finish(|i| out.push(i.to_owned_item()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn data(s: &str) -> OwnedSseItem {
        OwnedSseItem::Data(s.as_bytes().to_vec())
    }

    fn feed_split(bytes: &[u8], cuts: &[usize]) -> Vec<OwnedSseItem> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        let mut last = 0;
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        for c in cuts {
            p.feed(&bytes[last..c], |i| out.push(i.to_owned_item()));
            last = c;
        }
        p.feed(&bytes[last..], |i| out.push(i.to_owned_item()));
        p.finish(|i| out.push(i.to_owned_item()));
        out
    }

    #[test]
    fn openai_stream_with_done() {
        let s = b"data: {\"a\":1}\n\ndata: {\"b\":2}\n\ndata: [DONE]\n\n";
        assert_eq!(
            parse_all(s),
            vec![data("{\"a\":1}"), data("{\"b\":2}"), OwnedSseItem::Done]
        );
    }

    #[test]
    fn data_without_space_and_crlf() {
        let s = b"data:{\"x\":1}\r\n\r\ndata:[DONE]\r\n\r\n";
        assert_eq!(parse_all(s), vec![data("{\"x\":1}"), OwnedSseItem::Done]);
    }

    #[test]
    fn lone_cr_line_ends() {
        let s = b"data: a\r\rdata: b\r\r";
        assert_eq!(parse_all(s), vec![data("a"), data("b")]);
    }

    #[test]
    fn only_one_space_is_stripped() {
        assert_eq!(parse_all(b"data:  two\n\n"), vec![data(" two")]);
    }

    #[test]
    fn comments_and_other_fields_are_skipped() {
        let s =
            b":\n: keep-alive\nevent: message\nid: 7\nretry: 100\ndata: x\nfoo: bar\n\n: hb\n\n";
        assert_eq!(parse_all(s), vec![data("x")]);
    }

    #[test]
    fn multi_line_data_is_joined_with_lf() {
        let s = b"data: a\ndata: b\ndata\ndata: c\n\n";
        assert_eq!(parse_all(s), vec![data("a\nb\n\nc")]);
    }

    #[test]
    fn empty_data_line_dispatches_empty_payload() {
        assert_eq!(parse_all(b"data:\n\n"), vec![data("")]);
        // An event without any data line dispatches nothing.
        assert_eq!(parse_all(b"event: ping\n\n\n\n"), vec![]);
    }

    #[test]
    fn event_across_reads_and_several_per_read() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        p.feed(b"data: {\"par", |i| out.push(i.to_owned_item()));
        assert!(out.is_empty());
        p.feed(b"tial\":1}\n", |i| out.push(i.to_owned_item()));
        assert!(out.is_empty(), "no dispatch before the blank line");
        p.feed(b"\ndata: 2\n\ndata: 3\n\ndata: [DO", |i| {
            out.push(i.to_owned_item())
        });
        assert_eq!(out, vec![data("{\"partial\":1}"), data("2"), data("3")]);
        p.feed(b"NE]\n\n", |i| out.push(i.to_owned_item()));
        assert_eq!(out.last(), Some(&OwnedSseItem::Done));
    }

    #[test]
    fn crlf_split_between_reads_is_one_line_end() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        p.feed(b"data: a\r", |i| out.push(i.to_owned_item()));
        p.feed(b"\n\r", |i| out.push(i.to_owned_item()));
        p.feed(b"\ndata: b\r\n\r\n", |i| out.push(i.to_owned_item()));
        assert_eq!(out, vec![data("a"), data("b")]);
    }

    #[test]
    fn finish_flushes_an_unterminated_event() {
        assert_eq!(parse_all(b"data: tail"), vec![data("tail")]);
        assert_eq!(
            parse_all(b"data: a\n\ndata: tail\n"),
            vec![data("a"), data("tail")]
        );
        assert_eq!(parse_all(b"data: [DONE]"), vec![OwnedSseItem::Done]);
    }

    #[test]
    fn parser_is_reusable_after_finish() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        p.feed(b"data: a\n\ndata: part", |i| out.push(i.to_owned_item()));
        p.finish(|i| out.push(i.to_owned_item()));
        p.feed(b"data: b\n\n", |i| out.push(i.to_owned_item()));
        assert_eq!(out, vec![data("a"), data("part"), data("b")]);
    }

    /// Realistic streams built from pieces that exercise every rule.
    fn stream_strategy() -> impl Strategy<Value = Vec<u8>> {
        let eol = prop_oneof![Just("\n"), Just("\r\n"), Just("\r")];
        let line = prop_oneof![
            "[a-z{}\":, 가-힣]{0,20}".prop_map(|s| format!("data: {s}")),
            "[a-z{}\":, ]{0,20}".prop_map(|s| format!("data:{s}")),
            Just("data: [DONE]".to_string()),
            "[a-z ]{0,10}".prop_map(|s| format!(": {s}")),
            Just("event: x".to_string()),
            Just("id: 1".to_string()),
            Just("data".to_string()),
            Just(String::new()),
        ];
        prop::collection::vec((line, eol), 0..40).prop_map(|v| {
            let mut out = Vec::new();
            for (l, e) in v {
                out.extend_from_slice(l.as_bytes());
                out.extend_from_slice(e.as_bytes());
            }
            out
        })
    }

    proptest! {
        #[test]
        fn any_split_gives_the_same_events(
            bytes in stream_strategy(),
            cuts in prop::collection::vec(any::<usize>(), 0..12),
        ) {
            prop_assert_eq!(feed_split(&bytes, &cuts), parse_all(&bytes));
        }

        #[test]
        fn byte_at_a_time_gives_the_same_events(bytes in stream_strategy()) {
            let cuts: Vec<usize> = (0..=bytes.len()).collect();
            prop_assert_eq!(feed_split(&bytes, &cuts), parse_all(&bytes));
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_split_invariant(
            bytes in prop::collection::vec(any::<u8>(), 0..300),
            cuts in prop::collection::vec(any::<usize>(), 0..8),
        ) {
            prop_assert_eq!(feed_split(&bytes, &cuts), parse_all(&bytes));
        }
    }
}
