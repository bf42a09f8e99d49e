//! `ooo run`: take a locked Seed and a repository, have an agent implement each
//! acceptance criterion, and accept only what ooo itself verified. A first-party program
//! built only on `ScopedCore`, the runtime traits of `ooo-core` and `ooo-sandbox` (for
//! the verify gate).
//!
//! Being built (issue 12). What lives here so far:
//! * [`view`]: the worker-safe view of a Seed and the prompts built from it (the worker
//!   never sees `verify_command` or `output_assertion`);
//! * [`oracle`]: the paths a criterion's check depends on (its oracle) and whether the
//!   worker changed them;
//! * [`gate`]: the verify gate, run by ooo in the sandbox;
//! * [`plan`]: criteria ordered into dependency levels;
//! * [`events`]: the execution's ledger records and the state folded from them;
//! * [`lock`]: the lock that lets one process at a time run an execution;
//! * [`workspace`]: the repository or a worktree on `ooo/run-<id>`, commits, gc;
//! * [`evaluate`]: the mechanical and semantic evaluation after the criteria;
//! * [`executor`]: the run loop (levels, parallel workers, attempts, the gate, cancel,
//!   resume).
//!
//! The commands (`ooo run`, `ooo run --resume`, `ooo run gc`, `ooo status`, `ooo cancel`)
//! live in the CLI (`crates/ooo-cli/src/commands/run.rs`): they choose the seed, the
//! workspace, the runtime and its confinement, and render; every decision is made here.

pub mod evaluate;
pub mod events;
pub mod executor;
pub mod gate;
pub mod lock;
pub mod oracle;
pub mod plan;
pub mod view;
pub mod workspace;
