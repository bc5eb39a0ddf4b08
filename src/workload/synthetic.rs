//! Synthetic prompts of exact token lengths.
//!
//! A prompt is a seeded random sequence of common English words, grown or cut one word at
//! a time until the conversation, rendered through the chat template, is exactly the
//! asked number of tokens ([`fill_to`]). Lengths are fixed or drawn per request from a
//! distribution with the given mean and standard deviation:
//!
//! - `uniform`: on [mean − √3·sd, mean + √3·sd] (so its standard deviation is sd);
//! - `normal`: N(mean, sd²);
//! - `lognormal`: the length is log-normal with that mean and standard deviation
//!   (σ² = ln(1 + sd²/mean²), μ = ln(mean) − σ²/2).
//!
//! Draws are rounded and clamped to at least 1 token (inputs: at least the template's own
//! tokens + 1). The output length is sent as `max_tokens` with `ignore_eos`.

use super::{Items, Params, PromptTokens, WorkItem, Workload, WorkloadError, user};
use crate::client::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal, Normal};
use std::collections::BTreeMap;

/// How lengths are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dist {
    Fixed,
    Uniform,
    Normal,
    LogNormal,
}

impl Dist {
    fn parse(s: &str) -> Option<Dist> {
        match s {
            "fixed" => Some(Dist::Fixed),
            "uniform" => Some(Dist::Uniform),
            "normal" => Some(Dist::Normal),
            "lognormal" | "log-normal" => Some(Dist::LogNormal),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Dist::Fixed => "fixed",
            Dist::Uniform => "uniform",
            Dist::Normal => "normal",
            Dist::LogNormal => "lognormal",
        }
    }
}

/// A length: mean and standard deviation in tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Length {
    pub mean: f64,
    pub sd: f64,
}

impl Length {
    /// One draw, rounded, at least `min`.
    pub fn draw(&self, dist: Dist, rng: &mut StdRng, min: u64) -> u64 {
        let x = match dist {
            _ if self.sd == 0.0 => self.mean,
            Dist::Fixed => self.mean,
            Dist::Uniform => {
                let half = 3f64.sqrt() * self.sd;
                rng.random_range((self.mean - half)..=(self.mean + half))
            }
            Dist::Normal => Normal::new(self.mean, self.sd)
                .map(|n| n.sample(rng))
                .unwrap_or(self.mean),
            Dist::LogNormal => {
                let s2 = (1.0 + (self.sd / self.mean).powi(2)).ln();
                LogNormal::new(self.mean.ln() - s2 / 2.0, s2.sqrt())
                    .map(|n| n.sample(rng))
                    .unwrap_or(self.mean)
            }
        };
        (x.round().max(0.0) as u64).max(min)
    }
}

/// `synthetic:in=N,out=M[,in_sd=X,out_sd=Y][,dist=...][,n=K]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub input: Length,
    pub output: Length,
    pub dist: Dist,
    /// Distinct prompts; `None`: as many as the run's steps send.
    pub count: Option<usize>,
}

impl Spec {
    pub fn from_params(p: &mut Params) -> Result<Spec, WorkloadError> {
        let k = "synthetic";
        let pos = |x: &f64| x.is_finite() && *x >= 1.0;
        let sd = |x: &f64| x.is_finite() && *x >= 0.0;
        let input = Length {
            mean: p.required(k, "in", pos, "a number of tokens ≥ 1")?,
            sd: p
                .num(k, "in_sd", sd, "a standard deviation ≥ 0")?
                .unwrap_or(0.0),
        };
        let output = Length {
            mean: p.required(k, "out", pos, "a number of tokens ≥ 1")?,
            sd: p
                .num(k, "out_sd", sd, "a standard deviation ≥ 0")?
                .unwrap_or(0.0),
        };
        let dist = match p.take("dist") {
            None if input.sd > 0.0 || output.sd > 0.0 => Dist::Normal,
            None => Dist::Fixed,
            Some(d) => Dist::parse(&d).ok_or_else(|| {
                WorkloadError::Spec(format!(
                    "synthetic: dist={d}: use fixed, uniform, normal or lognormal"
                ))
            })?,
        };
        let count = p.num(k, "n", |n: &usize| *n >= 1, "a count ≥ 1")?;
        Ok(Spec {
            input,
            output,
            dist,
            count,
        })
    }

    pub fn params(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        m.insert("in".into(), self.input.mean.to_string());
        m.insert("in_sd".into(), self.input.sd.to_string());
        m.insert("out".into(), self.output.mean.to_string());
        m.insert("out_sd".into(), self.output.sd.to_string());
        m.insert("dist".into(), self.dist.as_str().into());
        if let Some(n) = self.count {
            m.insert("n".into(), n.to_string());
        }
        m
    }
}

/// Common English words; each is one token with its leading space in the tokenizers we
/// use (Gemma, Llama, SmolLM), so a prompt grows about one token per word. [`fill_to`]
/// checks the count either way.
pub const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "it",
    "as",
    "was",
    "with",
    "be",
    "by",
    "on",
    "not",
    "he",
    "this",
    "are",
    "or",
    "his",
    "from",
    "at",
    "which",
    "but",
    "have",
    "an",
    "had",
    "they",
    "you",
    "were",
    "their",
    "one",
    "all",
    "we",
    "can",
    "her",
    "has",
    "there",
    "been",
    "if",
    "more",
    "when",
    "will",
    "would",
    "who",
    "so",
    "no",
    "time",
    "people",
    "year",
    "way",
    "day",
    "man",
    "thing",
    "woman",
    "life",
    "child",
    "world",
    "school",
    "state",
    "family",
    "student",
    "group",
    "country",
    "problem",
    "hand",
    "part",
    "place",
    "case",
    "week",
    "company",
    "system",
    "program",
    "question",
    "work",
    "government",
    "number",
    "night",
    "point",
    "home",
    "water",
    "room",
    "mother",
    "area",
    "money",
    "story",
    "fact",
    "month",
    "lot",
    "right",
    "study",
    "book",
    "eye",
    "job",
    "word",
    "business",
    "issue",
    "side",
    "kind",
    "head",
    "house",
    "service",
    "friend",
    "father",
    "power",
    "hour",
    "game",
    "line",
    "end",
    "member",
    "law",
    "car",
    "city",
    "name",
    "team",
    "minute",
    "idea",
    "body",
    "information",
    "back",
    "parent",
    "face",
    "level",
    "office",
    "door",
    "health",
    "person",
    "art",
    "war",
    "history",
    "party",
    "result",
    "change",
    "morning",
    "reason",
    "research",
    "girl",
    "guy",
    "moment",
    "air",
    "teacher",
    "force",
    "education",
    "good",
    "new",
    "first",
    "last",
    "long",
    "great",
    "little",
    "own",
    "other",
    "old",
    "big",
    "high",
    "different",
    "small",
    "large",
    "next",
    "early",
    "young",
    "important",
    "few",
    "public",
    "bad",
    "same",
    "able",
    "make",
    "know",
    "take",
    "see",
    "come",
    "think",
    "look",
    "want",
    "give",
    "use",
    "find",
    "tell",
    "ask",
    "seem",
    "feel",
    "try",
    "leave",
    "call",
    "keep",
    "let",
    "begin",
    "help",
    "show",
    "hear",
    "play",
    "run",
    "move",
    "like",
    "live",
    "believe",
    "bring",
];

fn word(rng: &mut StdRng) -> &'static str {
    WORDS[rng.random_range(0..WORDS.len())]
}

/// Most count-and-adjust rounds [`fill_to`] takes before it gives up.
const MAX_ROUNDS: usize = 10_000;

/// Text `base` + seeded random words such that `count(text)` is exactly `target`: grows
/// by the shortfall, cuts by the excess, and swaps the last word when one word overshoots
/// (a word of two tokens). Errors when `count(base)` is already above `target`.
pub fn fill_to(
    rng: &mut StdRng,
    base: &str,
    target: u64,
    count: &mut dyn FnMut(&str) -> anyhow::Result<u64>,
) -> Result<String, String> {
    let compose = |words: &[&str]| {
        let mut s = String::with_capacity(base.len() + words.len() * 8);
        s.push_str(base);
        for w in words {
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(w);
        }
        s
    };
    let c = |t: &str, count: &mut dyn FnMut(&str) -> anyhow::Result<u64>| {
        count(t).map_err(|e| format!("counting tokens: {e:#}"))
    };
    let floor = c(base, count)?;
    if floor > target {
        return Err(format!(
            "{floor} tokens before any word (the chat template and fixed text), more than the {target} asked for"
        ));
    }
    let mut words: Vec<&str> = (0..target - floor).map(|_| word(rng)).collect();
    for _ in 0..MAX_ROUNDS {
        let text = compose(&words);
        let n = c(&text, count)?;
        if n == target {
            return Ok(text);
        }
        if n < target {
            words.extend((0..target - n).map(|_| word(rng)));
        } else {
            let excess = (n - target) as usize;
            let keep = words.len().saturating_sub(excess);
            words.truncate(keep);
            // The excess came from a word of several tokens: try another in its place.
            if excess == 1
                && let Some(last) = words.last_mut()
            {
                *last = word(rng);
            }
        }
    }
    Err(format!(
        "could not reach exactly {target} tokens in {MAX_ROUNDS} rounds"
    ))
}

/// A user prompt whose conversation renders to exactly `target` tokens.
pub fn prompt_of(
    rng: &mut StdRng,
    target: u64,
    tokens: &dyn PromptTokens,
) -> Result<String, String> {
    let mut count = |t: &str| tokens.prompt_tokens(&[user(t)]);
    fill_to(rng, "", target, &mut count)
}

/// Tokens of the template around an empty user message.
pub fn template_floor(tokens: &dyn PromptTokens) -> Result<u64, String> {
    tokens
        .prompt_tokens(&[Message {
            role: "user".into(),
            content: String::new(),
        }])
        .map_err(|e| format!("counting tokens: {e:#}"))
}

/// Generate the workload: `spec.count` (or `default_count`) prompts, each of its drawn
/// input length (template included) and output length.
pub fn build(
    spec: &Spec,
    seed: u64,
    default_count: usize,
    tokens: &dyn PromptTokens,
) -> Result<Workload, WorkloadError> {
    let gen_err = |message: String| WorkloadError::Generate {
        kind: "synthetic",
        message,
    };
    let n = spec.count.unwrap_or(default_count).max(1);
    let floor = template_floor(tokens).map_err(gen_err)?;
    if spec.input.mean < (floor + 1) as f64 {
        return Err(gen_err(format!(
            "in={} is not above the {floor} tokens the chat template takes around an empty message",
            spec.input.mean
        )));
    }
    let mut lengths = StdRng::seed_from_u64(seed);
    let mut text = StdRng::seed_from_u64(seed ^ 0x5eed_7e47);
    let mut items = Vec::with_capacity(n);
    for i in 0..n {
        let input = spec.input.draw(spec.dist, &mut lengths, floor + 1);
        let output = spec.output.draw(spec.dist, &mut lengths, 1);
        let prompt = prompt_of(&mut text, input, tokens)
            .map_err(|m| gen_err(format!("prompt {i} of {input} tokens: {m}")))?;
        items.push(WorkItem {
            id: format!("synthetic-{i:04}"),
            messages: vec![user(prompt)],
            max_tokens: Some(u32::try_from(output).unwrap_or(u32::MAX)),
            exact_output: true,
            input_tokens: Some(input),
        });
    }
    let mut w = Workload::new(
        "synthetic",
        spec.params(),
        seed,
        Items::Requests(items),
        None,
        None,
    );
    w.notes.push(format!(
        "input lengths count the chat template ({floor} tokens around an empty message), BOS included"
    ));
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::super::testing::WordTokens;
    use super::*;

    fn spec(s: &str) -> Spec {
        match super::super::parse_spec(s).unwrap() {
            super::super::WorkloadSpec::Synthetic(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fixed_lengths_are_exact_and_seeded() {
        let t = WordTokens { overhead: 9 };
        let w = build(&spec("synthetic:in=256,out=128"), 7, 20, &t).unwrap();
        let Items::Requests(items) = &w.items else {
            panic!()
        };
        assert_eq!(items.len(), 20);
        for it in items {
            assert_eq!(t.prompt_tokens(&it.messages).unwrap(), 256);
            assert_eq!(it.input_tokens, Some(256));
            assert_eq!((it.max_tokens, it.exact_output), (Some(128), true));
        }
        // Distinct prompts (no two requests share a warm prefix by accident).
        let firsts: std::collections::HashSet<_> =
            items.iter().map(|i| &i.messages[0].content).collect();
        assert_eq!(firsts.len(), 20);
        let again = build(&spec("synthetic:in=256,out=128"), 7, 20, &t).unwrap();
        assert_eq!(again.hash, w.hash);
        assert_eq!(again.items, w.items);
        let other = build(&spec("synthetic:in=256,out=128"), 8, 20, &t).unwrap();
        assert_ne!(other.hash, w.hash);
        assert_eq!(w.params["dist"], "fixed");
    }

    #[test]
    fn distributions_have_their_mean_and_spread() {
        let mut rng = StdRng::seed_from_u64(1);
        let len = Length {
            mean: 200.0,
            sd: 40.0,
        };
        for dist in [Dist::Uniform, Dist::Normal, Dist::LogNormal] {
            let xs: Vec<f64> = (0..20_000)
                .map(|_| len.draw(dist, &mut rng, 1) as f64)
                .collect();
            let m = xs.iter().sum::<f64>() / xs.len() as f64;
            let sd = (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / xs.len() as f64).sqrt();
            assert!((m - 200.0).abs() < 2.0, "{dist:?} mean {m}");
            assert!((sd - 40.0).abs() < 2.0, "{dist:?} sd {sd}");
            if dist == Dist::Uniform {
                let max = xs.iter().cloned().fold(0.0, f64::max);
                assert!(max <= 200.0 + 3f64.sqrt() * 40.0 + 0.5, "{max}");
            }
        }
        assert_eq!(
            Length { mean: 5.0, sd: 0.0 }.draw(Dist::Normal, &mut rng, 1),
            5
        );
        // Draws below the floor are clamped to it.
        let low = Length {
            mean: 1.0,
            sd: 50.0,
        };
        assert!((0..200).all(|_| low.draw(Dist::Normal, &mut rng, 3) >= 3));
    }

    #[test]
    fn drawn_inputs_are_each_exact() {
        let t = WordTokens { overhead: 5 };
        let w = build(
            &spec("synthetic:in=100,in_sd=30,out=50,out_sd=10,dist=lognormal,n=50"),
            3,
            1,
            &t,
        )
        .unwrap();
        let Items::Requests(items) = &w.items else {
            panic!()
        };
        assert_eq!(items.len(), 50);
        let lens: std::collections::HashSet<u64> =
            items.iter().map(|i| i.input_tokens.unwrap()).collect();
        assert!(lens.len() > 10, "drawn, not fixed: {lens:?}");
        for it in items {
            assert_eq!(
                t.prompt_tokens(&it.messages).unwrap(),
                it.input_tokens.unwrap()
            );
        }
    }

    #[test]
    fn fill_to_copes_with_multi_token_words_and_refuses_the_impossible() {
        // A counter where "information" and "government" are 3 tokens each.
        let mut count = |t: &str| -> anyhow::Result<u64> {
            Ok(t.split_whitespace()
                .map(|w| if w.len() >= 10 { 3 } else { 1 })
                .sum())
        };
        let mut rng = StdRng::seed_from_u64(2);
        for target in [1, 2, 17, 300] {
            let s = fill_to(&mut rng, "", target, &mut count).unwrap();
            assert_eq!(count(&s).unwrap(), target);
        }
        let s = fill_to(&mut rng, "fixed base", 10, &mut count).unwrap();
        assert!(s.starts_with("fixed base "), "{s}");
        assert_eq!(count(&s).unwrap(), 10);
        let e = fill_to(&mut rng, "a b c", 2, &mut count).unwrap_err();
        assert!(e.contains("3 tokens before any word"), "{e}");
    }

    #[test]
    fn a_template_longer_than_the_input_is_an_error() {
        let t = WordTokens { overhead: 300 };
        let e = build(&spec("synthetic:in=256,out=1"), 1, 1, &t)
            .unwrap_err()
            .to_string();
        assert!(e.contains("in=256 is not above the 300 tokens"), "{e}");
    }
}
