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
    /// Show and check the settings in $OUROBOROS_HOME/config.toml.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The OS sandbox plugins, builds, verify commands and agent workers run in.
    #[command(subcommand)]
    Sandbox(SandboxCommand),
    /// Execute a Seed: agents do each criterion, ooo accepts only what it verified.
    ///
    /// Workers run confined in ooo's sandbox; ooo's own verify gate decides every
    /// attempt. Exit codes: 0 every criterion verified, 1 a criterion failed, 3
    /// unverified criteria remain, 130 cancelled (Ctrl-C or `ooo cancel`).
    Run(RunArgs),
    /// Executions of `ooo run`: one line each, or one execution criterion by criterion.
    Status {
        /// An execution id (from `ooo status`); without it, every execution.
        execution_id: Option<String>,
        /// Show the execution again whenever it changes, until it stops running.
        #[arg(long, requires = "execution_id")]
        follow: bool,
        /// Print JSON (a list: one object per line; one execution: one object).
        #[arg(long)]
        json: bool,
    },
    /// Stop a running execution (from any terminal): it ends as `cancelled`.
    Cancel {
        /// The execution id (from `ooo status`).
        execution_id: String,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
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
    /// Restore the ledger from an export, after verifying its whole chain (into a home
    /// with no ledger, or an empty one).
    Import(ImportArgs),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// The effective settings, and where each comes from (default, config.toml or the
    /// environment).
    Show {
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Check config.toml; exit 1 naming the line and the valid values of a problem.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum SeedCommand {
    /// Check a seed file as `seed save` would; list every problem with its path.
    Validate {
        /// A seed file (.yaml, .yml or .json), or - for standard input (YAML or JSON).
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
        /// Exit 1 when the seeds differ, 0 when they do not.
        #[arg(long)]
        exit_code: bool,
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
        /// A git URL, or a directory (relative to the current one, or absolute).
        source: String,
        /// Install this plugin from the catalog (repeatable).
        #[arg(long = "plugin", value_name = "NAME")]
        plugins: Vec<String>,
        /// Tag, branch or commit to read the catalog at (a directory: of its git repository).
        #[arg(long = "ref", value_name = "REF")]
        git_ref: Option<String>,
        /// With --plugin: replace an installed plugin of that name from another source, or
        /// with a lower version, without asking.
        #[arg(long)]
        force: bool,
    },
    /// Install a plugin by name (from a registered catalog) or from --from, running its
    /// declared build step in the sandbox. Grants nothing.
    Install {
        /// The plugin's name.
        name: String,
        /// A git URL or a directory to install from (relative to the current one, or absolute).
        #[arg(long, value_name = "URL|DIR")]
        from: Option<String>,
        /// Tag, branch or commit to pin (a directory: read from its git repository).
        #[arg(long = "ref", value_name = "REF")]
        git_ref: Option<String>,
        /// Replace an installed plugin of this name from another source, or with a lower
        /// version, without asking.
        #[arg(long)]
        force: bool,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Installed plugins with their trust state.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// One installed plugin: source, digest, trust, commands, capabilities, permissions.
    Inspect {
        /// An installed plugin's name.
        name: String,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Grant declared permission scopes to the installed plugin's exact bytes and source.
    Trust {
        /// An installed plugin's name.
        name: String,
        /// A scope to grant (repeatable); it must be declared in the manifest.
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Stop a plugin from running until it is trusted again.
    Disable {
        /// An installed plugin's name.
        name: String,
    },
    /// Uninstall a plugin; its ledger history and catalogs stay, its state too unless
    /// --purge.
    Remove {
        /// An installed (or, with --purge, a removed) plugin's name.
        name: String,
        /// Also delete plugin-state/<name>/ (works after a plain remove too).
        #[arg(long)]
        purge: bool,
    },
    /// Fetch the plugin's source again and install it, showing what changed.
    Update {
        /// An installed plugin's name.
        name: String,
        /// Tag, branch or commit to move to (default: the one installed from).
        #[arg(long = "ref", value_name = "REF")]
        git_ref: Option<String>,
        /// Show what would change (version, permissions, files) and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// The registered catalogs: list, read again, unregister.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Plugins the registered catalogs offer whose name or description contains WORD.
    Search {
        /// A word to look for (case does not matter).
        word: String,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Scaffold a new plugin (manifest + shell entrypoint) that passes test-contract.
    Create {
        /// The new plugin's name (its directory, and its namespace).
        name: String,
        /// Where to create it (default: the current directory).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Check a plugin directory against the contract offline: manifest, entrypoint, --help.
    TestContract {
        /// The plugin directory.
        dir: PathBuf,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// A plugin's invocations: time, command, result, exit code, duration.
    Log {
        /// A plugin's name.
        name: String,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Recompute installed digests; exit 1 if any installed tree changed.
    Verify {
        /// One installed plugin (default: all).
        name: Option<String>,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// The registered catalogs and what they offer.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Read each catalog (or one) again and record what it offers now.
    Refresh {
        /// One catalog's location (as `catalog list` shows it).
        location: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Unregister a catalog (plugins installed from it stay installed).
    Remove {
        /// The catalog's location (as `catalog list` shows it).
        location: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Run a command in the same sandbox a plugin gets, to see what it may do: the
    /// current directory read-only, nothing else of yours, no network.
    Run(SandboxRunArgs),
    /// Which mechanisms this machine has, and the level commands run at.
    Check {
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct SandboxRunArgs {
    /// Also mount DIR read-write (repeatable).
    #[arg(long = "write", value_name = "DIR")]
    pub write: Vec<std::path::PathBuf>,
    /// Also mount DIR (or a file) read-only (repeatable).
    #[arg(long = "read", value_name = "PATH")]
    pub read: Vec<std::path::PathBuf>,
    /// Allow connections to HOST (ports 80 and 443) or HOST:PORT, through ooo's proxy
    /// (repeatable; `*.example.com` matches subdomains).
    #[arg(long = "net", value_name = "HOST[:PORT]")]
    pub net: Vec<String>,
    /// Pass this variable of your environment through (repeatable).
    #[arg(long = "env", value_name = "NAME")]
    pub env: Vec<String>,
    /// End the command (and all it started) after this many seconds.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// The command and its arguments (after `--`).
    #[arg(required = true, last = true, value_name = "CMD")]
    pub command: Vec<std::ffi::OsString>,
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
    /// Only events at or after this time: RFC 3339 (2026-11-25T10:00:00Z) or a date
    /// (2026-11-25, from midnight UTC).
    #[arg(long, value_name = "TIME")]
    pub after: Option<String>,
    /// Only events before this time: RFC 3339 or a date (before midnight UTC).
    #[arg(long, value_name = "TIME")]
    pub before: Option<String>,
    /// At most N events: the first N from --since or --after, otherwise the newest N.
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
pub struct ImportArgs {
    /// An export of the whole ledger (`ooo ledger export`), or - for standard input.
    pub file: String,
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

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct RunArgs {
    #[command(subcommand)]
    pub command: Option<RunCommand>,
    /// A seed file (.yaml, .yml, .json) or a saved seed id.
    #[arg(required_unless_present = "resume", conflicts_with = "resume")]
    pub seed: Option<String>,
    /// Continue a stopped execution where it stopped (accepted criteria are kept).
    #[arg(long, value_name = "EXECUTION_ID")]
    pub resume: Option<String>,
    /// The agent runtime (default: OUROBOROS_RUNTIME, [runtime] default, the first
    /// available).
    #[arg(long, value_name = "NAME")]
    pub runtime: Option<String>,
    /// Work in a new git worktree on branch ooo/run-<id> under $OUROBOROS_HOME/worktrees.
    #[arg(long)]
    pub worktree: bool,
    /// Work in DIR's git repository instead of the current directory's; a DIR that does
    /// not exist yet is made a new repository (for a greenfield seed).
    #[arg(long = "in", value_name = "DIR", conflicts_with = "resume")]
    pub dir: Option<std::path::PathBuf>,
    /// Criteria of one level running at once.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub max_parallel: usize,
    /// Attempts per criterion (the gate's failure is fed back to the next one).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub max_attempts: u32,
    /// When to commit in the worktree: after each accepted criterion, once at the end,
    /// or never.
    #[arg(long, value_name = "POLICY", default_value = "ac", value_parser = ["ac", "final", "none"])]
    pub commit_policy: String,
    /// Give up on a verify command after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub verify_timeout: u64,
    /// Run in the background: print the execution id and return at once (follow it with
    /// `ooo status <id> --follow`, stop it with `ooo cancel <id>`; its output goes to
    /// $OUROBOROS_HOME/runs/exec-<id>/log).
    #[arg(long)]
    pub detach: bool,
    /// The id of the new execution (a detached run's, chosen by the process that started
    /// it).
    #[arg(long, value_name = "ID", hide = true, conflicts_with = "resume")]
    pub execution_id: Option<String>,
    /// Print the whole result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum RunCommand {
    /// Remove finished worktrees of this repository's executions (merged, expired, or
    /// beyond the cap).
    Gc {
        /// Say what would be removed, remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// Keep at most this many finished worktrees.
        #[arg(long, value_name = "N", default_value_t = 20)]
        keep: usize,
        /// One JSON object per action.
        #[arg(long)]
        json: bool,
    },
}
