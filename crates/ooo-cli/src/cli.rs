//! The command tree and its flags (clap derive). Parsing only: no behaviour lives here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use clap_complete::Shell;

/// ooo: turn goals into locked specifications, run them through agent runtimes, and keep
/// a tamper-evident record of every step.
#[derive(Debug, Parser)]
#[command(name = "ooo", version, propagate_version = true, max_term_width = 100)]
#[command(after_help = "The home directory is $OUROBOROS_HOME (default ~/.ouroboros).")]
pub struct Cli {
    /// Run a plugin command that asks for confirmation without asking (recorded in the
    /// audit trail): `ooo --confirm <plugin> <command> ...`.
    #[arg(long)]
    pub confirm: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read, verify, export and add to the tamper-evident ledger.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Validate, inspect, save and compare Seeds (immutable specifications).
    #[command(subcommand)]
    Seed(SeedCommand),
    /// Manage plugins: separately installed programs, pinned, trusted and audited.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Agent CLIs and model providers: which are here, which is the default, do they work.
    #[command(subcommand)]
    Runtime(RuntimeCommand),
    /// Print a shell completion script to standard output.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: Shell,
    },
    /// `ooo <plugin-or-namespace> [command] [args...]` runs an installed plugin.
    #[command(external_subcommand)]
    External(Vec<String>),
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Show events, oldest first.
    Log(LogArgs),
    /// Walk the whole hash chain; exit 1 at the first edited, missing or reordered event.
    Verify(VerifyArgs),
    /// Write events as JSON lines, enough to verify them elsewhere.
    Export(ExportArgs),
    /// Record a note as evidence, by you (actor user:<login>).
    Note(NoteArgs),
}

#[derive(Debug, Subcommand)]
pub enum SeedCommand {
    /// Check a seed file; list every problem with its path.
    Validate {
        /// A seed file (.yaml, .yml or .json).
        file: PathBuf,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Print a seed, normalised (every acceptance criterion with its semantic_ac_key).
    Show {
        /// A seed file, or the id of a saved seed.
        seed: String,
        /// Print JSON instead of YAML.
        #[arg(long)]
        json: bool,
    },
    /// Save a seed under the home and record it in the ledger (seeds are immutable).
    Save {
        /// A seed file.
        file: PathBuf,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List saved seeds.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Show a saved seed's ancestors (parent_seed_id) and children.
    Lineage {
        /// A saved seed's id.
        seed_id: String,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// What changed from seed A to seed B (goal, constraints, criteria, ontology).
    Diff {
        /// A seed file or saved seed id (before).
        a: String,
        /// A seed file or saved seed id (after).
        b: String,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Check a plugin's manifest (ouroboros.plugin.json) without installing anything.
    Validate {
        /// The plugin directory, or the manifest file itself.
        path: PathBuf,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Print the canonical tree digest of a directory (sha256:<hex>) and nothing else.
    Digest {
        /// The plugin directory.
        dir: PathBuf,
    },
    /// Register a catalog (a git URL or directory with plugins/*/), optionally installing some.
    Add {
        /// A git URL, or an absolute directory.
        source: String,
        /// Install this plugin from the catalog (repeatable).
        #[arg(long = "plugin", value_name = "NAME")]
        plugins: Vec<String>,
        /// Tag, branch or commit to read the catalog at.
        #[arg(long = "ref", value_name = "REF")]
        git_ref: Option<String>,
    },
    /// Install a plugin by name (from a registered catalog) or from --from. Grants nothing.
    Install {
        name: String,
        /// A git URL or an absolute directory to install from.
        #[arg(long, value_name = "URL|ABS-PATH")]
        from: Option<String>,
        /// Tag, branch or commit to pin (git sources).
        #[arg(long = "ref", value_name = "REF")]
        git_ref: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Installed plugins with their trust state.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One installed plugin: source, digest, trust, commands, capabilities, permissions.
    Inspect {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Grant declared permission scopes to the installed plugin's exact bytes and source.
    Trust {
        name: String,
        /// A scope to grant (repeatable); it must be declared in the manifest.
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Stop a plugin from running until it is trusted again.
    Disable { name: String },
    /// Uninstall a plugin; its ledger history stays, its state too unless --purge.
    Remove {
        name: String,
        /// Also delete plugin-state/<name>/.
        #[arg(long)]
        purge: bool,
    },
    /// Fetch the plugin's source again and install it, showing what changed.
    Update {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Scaffold a new plugin (manifest + shell entrypoint) that passes test-contract.
    Create {
        name: String,
        /// Where to create it (default: the current directory).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Check a plugin directory against the contract offline: manifest, entrypoint, --help.
    TestContract {
        dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// A plugin's invocations: time, command, result, exit code, duration.
    Log {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Recompute installed digests; exit 1 if any installed tree changed.
    Verify {
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RuntimeCommand {
    /// The agent CLIs found (PATH or config.toml) with versions, the HTTP providers
    /// configured, and which one is the default and why.
    List {
        /// Show the default as `--runtime NAME` would choose it.
        #[arg(long, value_name = "NAME")]
        runtime: Option<String>,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// A live round trip: ask the runtime for a fixed reply and report the latency.
    Check {
        /// The runtime to check (default: the selected default runtime).
        name: Option<String>,
        /// Give up after this many seconds.
        #[arg(long, value_name = "SECS", default_value_t = 120)]
        timeout: u64,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Only events of this aggregate: TYPE:ID, or TYPE alone for all of that type.
    #[arg(long, value_name = "T:ID")]
    pub aggregate: Option<String>,
    /// Only event types equal to PREFIX or below it (`plugin` matches `plugin.installed`).
    #[arg(long = "type", value_name = "PREFIX")]
    pub event_type: Option<String>,
    /// Start at this sequence number (inclusive).
    #[arg(long, value_name = "SEQ")]
    pub since: Option<u64>,
    /// Only events at or after this time (RFC 3339, e.g. 2026-11-25T10:00:00Z).
    #[arg(long, value_name = "TIME")]
    pub after: Option<String>,
    /// Only events before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub before: Option<String>,
    /// At most N events: the first N from --since, otherwise the newest N.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// Keep running and print new events as they are appended (Ctrl-C to stop).
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Verify an export file (JSON lines, `-` for standard input) instead of the ledger.
    #[arg(long, value_name = "PATH")]
    pub file: Option<String>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Start at this sequence number (inclusive); the first line carries the hash it chains to.
    #[arg(long, value_name = "SEQ")]
    pub since: Option<u64>,
}

#[derive(Debug, Args)]
pub struct NoteArgs {
    /// What you observed or decided.
    pub text: String,
    /// Attach the note to an aggregate (TYPE:ID); by default a new `note:<id>`.
    #[arg(long, value_name = "T:ID")]
    pub aggregate: Option<String>,
    /// Print the stored event as JSON.
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    #[test]
    fn command_tree_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
