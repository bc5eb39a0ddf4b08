//! Token counting with a Hugging Face `tokenizer.json` (the `tokenizers` crate).
//!
//! Used where an engine reports no token counts: the output text of a request is counted
//! once, over the concatenated text (never per streamed chunk — a chunk boundary can
//! split a word, and counting pieces separately drifts).

use anyhow::Context;
use std::path::Path;

/// A loaded tokenizer that counts and encodes text.
pub struct TokenCounter {
    inner: tokenizers::Tokenizer,
}

impl std::fmt::Debug for TokenCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCounter")
            .field("vocab_size", &self.inner.get_vocab_size(true))
            .finish()
    }
}

impl TokenCounter {
    /// Load a `tokenizer.json`.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        if !path.is_file() {
            return Err(crate::error::UserError::new(format!(
                "tokenizer {} not found: point inferbench.tokenizer (or the engine's \
                 `tokenizer`) at a tokenizer.json, or run scripts/setup.sh",
                path.display()
            ))
            .into());
        }
        let inner = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("loading tokenizer {}", path.display()))?;
        Ok(TokenCounter { inner })
    }

    /// Number of tokens in `text`, without special tokens (no BOS/EOS added).
    pub fn count(&self, text: &str) -> anyhow::Result<u64> {
        Ok(self.encode_ids(text, false)?.len() as u64)
    }

    /// Token ids of `text`; `add_special` adds the tokenizer's special tokens (e.g. BOS).
    pub fn encode_ids(&self, text: &str, add_special: bool) -> anyhow::Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, add_special)
            .map_err(|e| anyhow::anyhow!("tokenizing failed: {e}"))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Text of token ids (special tokens kept), for checks and diagnostics.
    pub fn decode(&self, ids: &[u32]) -> anyhow::Result<String> {
        self.inner
            .decode(ids, false)
            .map_err(|e| anyhow::anyhow!("decoding failed: {e}"))
    }

    /// The id of a token string, if it is in the vocabulary.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    /// The real Gemma 3 tokenizer (33 MB), loaded once for all tests.
    fn gemma() -> &'static TokenCounter {
        static T: OnceLock<TokenCounter> = OnceLock::new();
        T.get_or_init(|| {
            let path = crate::config::test_model("gemma-3-270m/tokenizer/tokenizer.json");
            assert!(
                Path::new(&path).is_file(),
                "{path} is missing: run scripts/setup.sh (it exports the Gemma 3 \
                 tokenizer with transformers)"
            );
            TokenCounter::from_file(Path::new(&path)).unwrap()
        })
    }

    #[test]
    fn korean_word_splits_into_several_tokens() {
        let t = gemma();
        // Reference (HF tokenizers, Python): 트 / 레이 / 드 / 오 / 프.
        let ids = t.encode_ids("트레이드오프", false).unwrap();
        assert_eq!(ids.len(), 5, "{ids:?}");
        assert_eq!(t.count("트레이드오프").unwrap(), 5);
        assert_eq!(t.decode(&ids).unwrap(), "트레이드오프");
        // Counting is over the whole text, not the sum of arbitrary pieces.
        let s = "파이썬에서 리스트와 튜플의 차이점은?";
        assert_eq!(t.count(s).unwrap(), 16);
        assert_eq!(t.decode(&t.encode_ids(s, false).unwrap()).unwrap(), s);
    }

    #[test]
    fn special_tokens_only_when_asked() {
        let t = gemma();
        let bos = t.token_to_id("<bos>").unwrap();
        let with = t.encode_ids("hi", true).unwrap();
        let without = t.encode_ids("hi", false).unwrap();
        assert_eq!(with[0], bos);
        assert_eq!(&with[1..], &without[..]);
        assert_eq!(t.count("").unwrap(), 0);
        // Special-token text in the input is one token each.
        assert_eq!(t.count("<start_of_turn>user\n").unwrap(), 3);
    }

    #[test]
    fn missing_file_is_user_error() {
        let err = TokenCounter::from_file(Path::new("/nonexistent/tokenizer.json")).unwrap_err();
        assert!(
            err.chain()
                .any(|c| c.downcast_ref::<crate::error::UserError>().is_some()),
            "{err:#}"
        );
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("tokenizer.json");
        std::fs::write(&bad, "{not json").unwrap();
        let err = TokenCounter::from_file(&bad).unwrap_err();
        assert!(format!("{err:#}").contains("loading tokenizer"), "{err:#}");
    }
}
