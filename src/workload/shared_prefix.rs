//! Shared-prefix workloads: G groups of K requests; the requests of a group share a
//! P-token prefix and each has its own S-token suffix. Requests are sent group by group
//! (all of group 0, then group 1, ...), so that with prompt caching on, every request
//! after a group's first can reuse its prefix; with caching off, none may.
//!
//! P and S count plain text tokens of the user message; the prompt the engine sees is
//! the chat template around them (its input length is recorded per request).

use super::synthetic::fill_to;
use super::{Items, Params, PromptTokens, WorkItem, Workload, WorkloadError, user};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::collections::BTreeMap;

/// `prefix:groups=G,prefix=P,suffix=S[,per_group=K][,out=M]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub groups: usize,
    pub prefix: u64,
    pub suffix: u64,
    pub per_group: usize,
    /// Exact output length; `None`: the settings' max_tokens, EOS allowed.
    pub out: Option<u32>,
}

/// Requests per group when `per_group` is not given.
pub const DEFAULT_PER_GROUP: usize = 4;

impl Spec {
    pub fn from_params(p: &mut Params) -> Result<Spec, WorkloadError> {
        let k = "prefix";
        let ge1 = |n: &usize| *n >= 1;
        Ok(Spec {
            groups: p.required(k, "groups", ge1, "a number of groups ≥ 1")?,
            prefix: p.required(k, "prefix", |n: &u64| *n >= 1, "a number of tokens ≥ 1")?,
            suffix: p.required(k, "suffix", |n: &u64| *n >= 1, "a number of tokens ≥ 1")?,
            per_group: p
                .num(k, "per_group", ge1, "a number of requests ≥ 1")?
                .unwrap_or(DEFAULT_PER_GROUP),
            out: p.num(k, "out", |n: &u32| *n >= 1, "a number of tokens ≥ 1")?,
        })
    }

    pub fn params(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        m.insert("groups".into(), self.groups.to_string());
        m.insert("prefix".into(), self.prefix.to_string());
        m.insert("suffix".into(), self.suffix.to_string());
        m.insert("per_group".into(), self.per_group.to_string());
        if let Some(o) = self.out {
            m.insert("out".into(), o.to_string());
        }
        m
    }
}

pub fn build(spec: &Spec, seed: u64, tokens: &dyn PromptTokens) -> Result<Workload, WorkloadError> {
    let gen_err = |message: String| WorkloadError::Generate {
        kind: "prefix",
        message,
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let mut count = |t: &str| tokens.text_tokens(t);
    let mut items = Vec::with_capacity(spec.groups * spec.per_group);
    for g in 0..spec.groups {
        // A group tag first, so that no two groups' prefixes share a first word.
        let tag = format!("Group {g}:");
        let prefix = fill_to(&mut rng, &tag, spec.prefix, &mut count)
            .map_err(|m| gen_err(format!("prefix of group {g}: {m}")))?;
        for s in 0..spec.per_group {
            let text = fill_to(&mut rng, &prefix, spec.prefix + spec.suffix, &mut count)
                .map_err(|m| gen_err(format!("suffix {s} of group {g}: {m}")))?;
            let messages = vec![user(text)];
            let input = tokens
                .prompt_tokens(&messages)
                .map_err(|e| gen_err(format!("counting tokens: {e:#}")))?;
            items.push(WorkItem {
                id: format!("g{g}-s{s}"),
                messages,
                max_tokens: spec.out,
                exact_output: spec.out.is_some(),
                input_tokens: Some(input),
            });
        }
    }
    let mut w = Workload::new(
        "shared_prefix",
        spec.params(),
        seed,
        Items::Requests(items),
        None,
        None,
    );
    w.notes.push(format!(
        "{} groups × {} requests, sent group by group; prefix {} and suffix {} tokens of the user message",
        spec.groups, spec.per_group, spec.prefix, spec.suffix
    ));
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::super::testing::WordTokens;
    use super::*;

    fn spec(s: &str) -> Spec {
        match super::super::parse_spec(s).unwrap() {
            super::super::WorkloadSpec::SharedPrefix(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn groups_share_their_prefix_and_nothing_else() {
        let t = WordTokens { overhead: 4 };
        let w = build(
            &spec("prefix:groups=3,prefix=40,suffix=8,per_group=2,out=16"),
            5,
            &t,
        )
        .unwrap();
        let Items::Requests(items) = &w.items else {
            panic!()
        };
        assert_eq!(items.len(), 6);
        let words = |i: usize| -> Vec<String> {
            items[i].messages[0]
                .content
                .split_whitespace()
                .map(String::from)
                .collect()
        };
        for (i, it) in items.iter().enumerate() {
            assert_eq!(words(i).len(), 48, "{}", it.id);
            assert_eq!(it.input_tokens, Some(52));
            assert_eq!((it.max_tokens, it.exact_output), (Some(16), true));
        }
        // Same group: the first 40 tokens agree, the suffixes differ.
        assert_eq!(words(0)[..40], words(1)[..40]);
        assert_ne!(words(0)[40..], words(1)[40..]);
        // Other groups differ from the first word on.
        assert_ne!(words(0)[..2], words(2)[..2]);
        assert_eq!(items[2].id, "g1-s0");
        let again = build(
            &spec("prefix:groups=3,prefix=40,suffix=8,per_group=2,out=16"),
            5,
            &t,
        )
        .unwrap();
        assert_eq!(again.hash, w.hash);
        assert_eq!(w.params["per_group"], "2");
    }

    #[test]
    fn defaults_and_bad_values() {
        let s = spec("prefix:groups=2,prefix=10,suffix=1");
        assert_eq!((s.per_group, s.out), (DEFAULT_PER_GROUP, None));
        let e = super::super::parse_spec("prefix:groups=0,prefix=10,suffix=1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("groups=0"), "{e}");
        // The group tag alone is longer than a 1-token prefix.
        let t = WordTokens { overhead: 4 };
        let e = build(&spec("prefix:groups=1,prefix=1,suffix=1"), 1, &t)
            .unwrap_err()
            .to_string();
        assert!(e.contains("prefix of group 0"), "{e}");
    }
}
