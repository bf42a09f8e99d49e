//! `ooo completions <shell>`: clap's completion script for the command tree, and, for
//! bash and fish, what only the home knows, read when completing: installed plugin
//! names (as `ooo <plugin>` and after `plugin inspect|trust|...`) and saved seed ids
//! (after `seed show|lineage|diff`). The script lists `$OUROBOROS_HOME/plugins/*` and
//! `seeds/*.yaml` itself, so completing runs no `ooo` process.

use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;
use crate::error::CliError;
use crate::output::piped;

/// Plugin verbs whose first argument is an installed plugin's name.
const PLUGIN_VERBS: &str = "inspect trust disable remove update log verify";
/// Seed verbs whose arguments may be saved seed ids.
const SEED_VERBS: &str = "show lineage diff";

const BASH: &str = r#"
# Installed plugins and saved seeds, read from the home when completing.
_ooo_home() { printf '%s' "${OUROBOROS_HOME:-$HOME/.ouroboros}"; }
_ooo_plugins() { local d; for d in "$(_ooo_home)"/plugins/*/; do [ -d "$d" ] && basename "$d"; done; }
_ooo_seeds() { local f; for f in "$(_ooo_home)"/seeds/*.yaml; do [ -f "$f" ] && basename "$f" .yaml; done; }
_ooo_with_home() {
    local cur="${COMP_WORDS[COMP_CWORD]}" group="${COMP_WORDS[1]}" verb="${COMP_WORDS[2]}"
    if [[ ${COMP_CWORD} -eq 3 && ${group} == plugin && " PLUGIN_VERBS " == *" ${verb} "* ]]; then
        COMPREPLY=( $(compgen -W "$(_ooo_plugins)" -- "${cur}") )
        return 0
    fi
    if [[ ${COMP_CWORD} -ge 3 && ${group} == seed && " SEED_VERBS " == *" ${verb} "* && ${cur} != -* ]]; then
        COMPREPLY=( $(compgen -W "$(_ooo_seeds)" -- "${cur}") $(compgen -f -- "${cur}") )
        return 0
    fi
    _ooo "$@"
    if [[ ${COMP_CWORD} -eq 1 && ${cur} != -* ]]; then
        COMPREPLY+=( $(compgen -W "$(_ooo_plugins)" -- "${cur}") )
    fi
}
complete -F _ooo_with_home -o bashdefault -o default ooo
"#;

const FISH: &str = r#"
# Installed plugins and saved seeds, read from the home when completing.
function __ooo_home; if set -q OUROBOROS_HOME; echo $OUROBOROS_HOME; else; echo $HOME/.ouroboros; end; end
function __ooo_plugins; for d in (__ooo_home)/plugins/*/; basename $d; end; end
function __ooo_seeds; for f in (__ooo_home)/seeds/*.yaml; basename $f .yaml; end; end
complete -c ooo -n "__fish_seen_subcommand_from plugin; and __fish_seen_subcommand_from PLUGIN_VERBS" -f -a "(__ooo_plugins)"
complete -c ooo -n "__fish_seen_subcommand_from seed; and __fish_seen_subcommand_from SEED_VERBS" -a "(__ooo_seeds)"
complete -c ooo -n "__fish_use_subcommand" -f -a "(__ooo_plugins)" -d "installed plugin"
"#;

pub fn run(shell: Shell) -> Result<ExitCode, CliError> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "ooo", &mut script);
    let extra = match shell {
        Shell::Bash => BASH,
        Shell::Fish => FISH,
        _ => "",
    };
    let extra = extra.replace("PLUGIN_VERBS", PLUGIN_VERBS).replace("SEED_VERBS", SEED_VERBS);
    piped(|out| {
        out.write_all(&script)?;
        Ok(out.write_all(extra.as_bytes())?)
    })
}
