//! The one set-up every lifecycle verb shares: the home's plugin manager (with a
//! progress bar on a terminal), its ledger and the acting user, after first-party
//! collisions are disabled; and how an install asks before replacing a plugin. What
//! each verb does lives in its own module.

use std::io::{IsTerminal, Write};

use ooo_core::ledger::{Actor, SqliteStore};
use ooo_plugin::manager::{Manager, Replace, Replacing};

use super::reserved_names;
use crate::commands::{home, login, open_ledger};
use crate::error::CliError;
use crate::output::stderr_line;

/// What a lifecycle verb works with.
pub struct Session {
    pub manager: Manager,
    pub ledger: SqliteStore,
    pub actor: Actor,
}

impl Session {
    /// Open the home, its ledger and manager; warn about plugins disabled because they
    /// collide with a built-in command.
    pub fn open() -> Result<Self, CliError> {
        let home = home()?;
        let mut ledger = open_ledger()?;
        let mut manager = Manager::new(home, reserved_names());
        if std::io::stderr().is_terminal() {
            manager.show_progress = true;
            manager.progress = Some(Box::new(progress_bar()));
        }
        let actor = Actor::user(&login())?;
        for name in manager.disable_first_party_collisions(&mut ledger, &Actor::program("ooo")?)? {
            stderr_line(&format!(
                "warning: plugin {name} collides with a built-in command and was disabled"
            ));
        }
        Ok(Self { manager, ledger, actor })
    }
}

/// A one-line progress bar on stderr for copying and hashing, redrawn at most ten times
/// a second, and once more when the work is done.
fn progress_bar() -> impl Fn(&str, u64, u64) + Sync {
    let last = std::sync::Mutex::new(std::time::Instant::now() - std::time::Duration::from_secs(1));
    move |what, done, total| {
        let mut last = last.lock().expect("progress lock");
        if done < total && last.elapsed() < std::time::Duration::from_millis(100) {
            return;
        }
        *last = std::time::Instant::now();
        let pct = (done.saturating_mul(100)).checked_div(total).unwrap_or(100).min(100);
        let filled = (pct / 5) as usize;
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r{what} [{}{}] {pct:>3}% of {:.1} MB",
            "#".repeat(filled),
            " ".repeat(20 - filled),
            total as f64 / 1e6
        );
        if done >= total {
            let _ = writeln!(err);
        }
    }
}

/// Replace an installed plugin from another source or with a lower version: with
/// `--force`, ask on a terminal, refuse otherwise (the error names `--force`).
pub fn replace_policy(force: bool) -> Replace {
    if force {
        Replace::Force
    } else if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        Replace::Ask(Box::new(ask_replace))
    } else {
        Replace::Refuse
    }
}

/// Ask on the terminal whether to replace an installed plugin (default no).
fn ask_replace(r: &Replacing) -> bool {
    {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{r}. Replace it? [y/N] ");
        let _ = err.flush();
    }
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).is_ok()
        && matches!(answer.trim().to_lowercase().as_str(), "y" | "yes")
}
