//! `<think>…</think>` blocks in streamed content (pure, incremental): which content
//! deltas carry reasoning and which carry the answer.
//!
//! Reasoning models that have no separate reasoning field on the wire (an engine run
//! without a reasoning parser) put their reasoning first, in a `<think>` block. The rule:
//! - a block opens only at the start of the output (whitespace before `<think>` allowed);
//!   a `<think>` later in an answer is text of the answer;
//! - every delta that carries any part of the block, its tags included, is a reasoning
//!   delta (the tags are tokens the model generated), except a leading delta that is only
//!   the start of the opening tag (`<thi`), which is neither until the tag is complete;
//! - the first answer delta is the first one that carries non-whitespace text after the
//!   block (or, without a block, any non-whitespace text): the `\n\n` a model writes after
//!   `</think>` is not an answer yet;
//! - tags split across deltas (`<thi` + `nk>`) are found all the same.

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    /// Nothing but whitespace (or a prefix of `<think>`) so far.
    #[default]
    Start,
    InThink,
    Answer,
}

/// What one content delta carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Split {
    /// Part of the `<think>` block.
    pub reasoning: bool,
    /// Non-whitespace answer text.
    pub answer: bool,
}

/// The incremental classifier of one stream's content deltas.
#[derive(Debug, Clone, Default)]
pub struct ThinkTags {
    state: State,
    /// Start: the leading text not yet decided (whitespace + a prefix of `<think>`).
    /// InThink: the last few bytes, to find a `</think>` split across deltas.
    pending: String,
}

impl ThinkTags {
    pub fn new() -> Self {
        Self::default()
    }

    /// Classify the next content delta.
    pub fn feed(&mut self, text: &str) -> Split {
        let mut split = Split::default();
        let mut rest: &str = text;
        if self.state == State::Start {
            self.pending.push_str(rest);
            let lead = self.pending.trim_start();
            if lead.is_empty() {
                return split;
            }
            if let Some(after) = lead.strip_prefix(OPEN) {
                // Only the part of `after` that came in this delta is new text.
                let after_len = after.len();
                let take = after_len.min(text.len());
                rest = &text[text.len() - take..];
                self.state = State::InThink;
                self.pending.clear();
                split.reasoning = true;
            } else if OPEN.starts_with(lead) {
                // Still a prefix of `<think>`: undecided (the delta that completes the tag
                // is the first reasoning delta).
                return split;
            } else {
                self.state = State::Answer;
                self.pending.clear();
                split.answer = true;
                return split;
            }
        }
        if self.state == State::InThink {
            split.reasoning = true;
            let carried = self.pending.len();
            self.pending.push_str(rest);
            match self.pending.find(CLOSE) {
                Some(at) => {
                    let after_start = at + CLOSE.len();
                    let after = &self.pending[after_start.max(carried)..];
                    split.answer = after.chars().any(|c| !c.is_whitespace());
                    self.state = State::Answer;
                    self.pending.clear();
                }
                None => {
                    // Keep only what could still begin `</think>`.
                    let keep = CLOSE.len() - 1;
                    if self.pending.len() > keep {
                        let mut cut = self.pending.len() - keep;
                        while !self.pending.is_char_boundary(cut) {
                            cut += 1;
                        }
                        self.pending.drain(..cut);
                    }
                }
            }
            return split;
        }
        split.answer = rest.chars().any(|c| !c.is_whitespace());
        split
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(deltas: &[&str]) -> Vec<(bool, bool)> {
        let mut t = ThinkTags::new();
        deltas
            .iter()
            .map(|d| {
                let s = t.feed(d);
                (s.reasoning, s.answer)
            })
            .collect()
    }

    #[test]
    fn a_block_then_an_answer() {
        assert_eq!(
            run(&[
                "<think>", "\n", "Let me", " think", "</think>", "\n\n", "The", " answer"
            ]),
            vec![
                (true, false),
                (true, false),
                (true, false),
                (true, false),
                (true, false),
                (false, false),
                (false, true),
                (false, true),
            ]
        );
    }

    #[test]
    fn tags_split_across_deltas_and_answer_in_the_closing_delta() {
        assert_eq!(
            run(&[" \n<th", "ink>hm", "m</th", "ink>Yes"]),
            vec![(false, false), (true, false), (true, false), (true, true)]
        );
        assert_eq!(
            run(&["<think>a</think>b"]),
            vec![(true, true)],
            "one delta with everything"
        );
    }

    #[test]
    fn no_block_means_every_delta_is_answer() {
        assert_eq!(
            run(&["\n", "Hello", " <think>not a block</think>"]),
            vec![(false, false), (false, true), (false, true)]
        );
        // A prefix of the tag that turns out to be text.
        assert_eq!(run(&["<th", "e end"]), vec![(false, false), (false, true)]);
    }

    #[test]
    fn multibyte_text_inside_the_block() {
        assert_eq!(
            run(&["<think>생각", "하는 중…", "</think>", "답"]),
            vec![(true, false), (true, false), (true, false), (false, true)]
        );
    }

    #[test]
    fn split_invariance_over_every_cut() {
        let whole = "  <think>가나 </think>\n\n답: 42";
        let mut one = ThinkTags::new();
        assert_eq!(
            one.feed(whole),
            Split {
                reasoning: true,
                answer: true
            }
        );
        for cut in (1..whole.len()).filter(|c| whole.is_char_boundary(*c)) {
            let mut t = ThinkTags::new();
            let a = t.feed(&whole[..cut]);
            let b = t.feed(&whole[cut..]);
            assert!(a.reasoning || b.reasoning, "cut {cut}");
            assert!(a.answer || b.answer, "cut {cut}");
        }
    }
}
