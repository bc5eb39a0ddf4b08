//! Ollama: `ollama serve` in API mode ([`server`]), `ollama run` in CLI mode ([`cli`]).

pub mod cli;
pub mod doctor;
pub mod server;

use std::path::{Path, PathBuf};

/// The programs CLI mode runs, in the order they are looked for.
pub const CLI_PROGRAMS: &[&str] = &["ollama"];

/// Where Ollama keeps the manifest of model `name` in its store: `name[:tag]` in the
/// default namespace (`registry.ollama.ai/library`), `ns/name` in the default registry,
/// `host/ns/name` as given. Tag `latest` when none. Pure.
pub fn manifest_path(store: &Path, name: &str) -> PathBuf {
    // A tag follows the last ':' after the last '/' (a registry may have a port).
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], &name[last_slash + i + 1..]),
        None => (name, "latest"),
    };
    let parts: Vec<&str> = repo.split('/').filter(|p| !p.is_empty()).collect();
    let mut path = store.join("manifests");
    match parts.len() {
        0 | 1 => {
            path = path
                .join("registry.ollama.ai")
                .join("library")
                .join(parts.first().copied().unwrap_or(""));
        }
        2 => {
            path = path
                .join("registry.ollama.ai")
                .join(parts[0])
                .join(parts[1]);
        }
        _ => {
            for p in parts {
                path = path.join(p);
            }
        }
    }
    path.join(tag)
}
