//! Any bytes as the stdout of each agent CLI (claude, codex, gemini, opencode): every
//! adapter's `StreamParser` takes each line as the driver hands it over (lossy UTF-8,
//! line end stripped, blank lines skipped), then `finish`; errors are fine, a panic is
//! not. The first byte chooses the exit code given to `finish` (0, 1, or killed by a
//! signal); the rest is the output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ooo_runtime::registry::{CLI_NAMES, cli_adapter};

fuzz_target!(|data: &[u8]| {
    let Some((&choice, output)) = data.split_first() else { return };
    let exit = match choice % 3 {
        0 => Some(0),
        1 => Some(1),
        _ => None,
    };
    let text = String::from_utf8_lossy(output);
    let lines: Vec<&str> = text
        .split('\n')
        .map(|line| line.trim_end_matches(['\n', '\r']))
        .filter(|line| !line.is_empty())
        .collect();
    for name in CLI_NAMES {
        let mut parser = cli_adapter(name).expect("a known CLI").parser(&ooo_core::runtime::AgentTask::new("", "."));
        for line in &lines {
            let _ = parser.line(line);
        }
        let _ = parser.finish(exit);
    }
});
