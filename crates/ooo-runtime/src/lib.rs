//! `ooo-runtime`: the adapters behind `ooo_core::runtime`'s two traits.
//!
//! What lives here: driving the agent CLIs (`claude`, `codex`, `gemini`, `opencode`) in
//! their machine-readable modes ([`cli`]), the HTTP model providers (Anthropic Messages,
//! OpenAI-compatible Chat Completions, in [`http`]), the child process and its
//! environment ([`process`], [`env`]), a scripted runtime and provider for tests of the
//! programs ([`scripted`]), and the journal that records every run and call in the
//! ledger ([`journal`]).
//!
//! What does not: the traits and event types (in `ooo-core`), sandbox mechanisms
//! (`ooo-sandbox`), argument parsing and rendering (`ooo-cli`).

pub mod cli;
pub mod env;
pub mod http;
pub mod journal;
pub mod private_dirs;
pub mod process;
pub mod registry;
pub mod sandboxed;
pub mod scripted;
pub mod structured;
