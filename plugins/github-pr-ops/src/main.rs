//! `github-pr-ops`: the reference ooo plugin. Reviews GitHub pull requests against a
//! merge policy and merges them when the policy says ready; run as
//! `ooo github-pr <command> ...` through ooo's firewall, or standalone for testing.
//! This file parses arguments, runs a command and maps outcomes to exit codes:
//! 0 done (a review that worked, whatever it found; merged), 1 error, 2 usage,
//! 3 merge refused, or not ready with `review --exit-code`.

use clap::{Parser, Subcommand};
use serde_json::{Value, json};

use github_pr_ops::core_link::{self, CoreLink};
use github_pr_ops::github::Client;
use github_pr_ops::merge::{self, Judged, Merged, Method};
use github_pr_ops::target::{PullRef, Repo};
use github_pr_ops::{policy, review, status};

/// Exit code for "not ready" and "merge refused".
const NOT_READY: i32 = 3;

#[derive(Parser)]
#[command(
    name = "github-pr-ops",
    version,
    about = "Review and merge GitHub pull requests behind a policy"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct PolicyArgs {
    /// A saved policy's name (`default` is built in).
    #[arg(long)]
    policy: Option<String>,
    /// A policy TOML file (relative to where you run ooo).
    #[arg(long, value_name = "FILE")]
    policy_file: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Judge a pull request: state, checks, reviews, permission.
    Review {
        /// https://github.com/OWNER/REPO/pull/NUMBER or OWNER/REPO#NUMBER
        pr: String,
        #[command(flatten)]
        policy: PolicyArgs,
        #[arg(long)]
        json: bool,
        /// Exit 3 when the pull request is not ready (for scripts).
        #[arg(long)]
        exit_code: bool,
    },
    /// Merge a pull request when its policy says ready (exactly the judged head commit).
    Merge {
        /// https://github.com/OWNER/REPO/pull/NUMBER or OWNER/REPO#NUMBER
        pr: String,
        #[command(flatten)]
        policy: PolicyArgs,
        #[arg(long, value_enum, default_value = "merge")]
        method: Method,
        /// Refuse unless the head is still this commit (the one you reviewed).
        #[arg(long, value_name = "SHA")]
        head_sha: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Open pull requests of a repository with their readiness.
    Status {
        /// OWNER/REPO
        repo: String,
        #[command(flatten)]
        policy: PolicyArgs,
        #[arg(long)]
        json: bool,
    },
    /// Saved policies: set, show, list, delete.
    Policy {
        #[command(subcommand)]
        action: PolicyAction,
    },
}

#[derive(Subcommand)]
enum PolicyAction {
    /// Save a policy from a TOML file.
    Set {
        name: String,
        #[arg(long, value_name = "FILE")]
        file: String,
    },
    /// Print a policy (saved, or the built-in default) as TOML-equivalent JSON.
    Show { name: String },
    /// List saved policies.
    List,
    /// Delete a saved policy.
    Delete { name: String },
}

fn main() {
    let cli = Cli::parse();
    let code = match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("github-pr-ops: error: {e}");
            1
        }
    };
    std::process::exit(code);
}

type Failure = Box<dyn std::error::Error>;

/// The API client, refusing before any request when `pr` lives on another host.
fn client_for(pr: Option<&PullRef>) -> Result<Client, Failure> {
    let client = Client::from_env()?;
    if let Some(pr) = pr {
        pr.check_api(client.api_host())?;
    }
    if !client.has_token() {
        eprintln!(
            "github-pr-ops: no GITHUB_TOKEN or GH_TOKEN (ooo passes it once github:read is trusted); asking GitHub unauthenticated"
        );
    }
    Ok(client)
}

fn policy_of(link: &mut CoreLink, args: &PolicyArgs) -> Result<(String, policy::Policy), Failure> {
    Ok(link.policy(args.policy.as_deref(), args.policy_file.as_deref())?)
}

fn run(command: Command) -> Result<i32, Failure> {
    match command {
        Command::Review { pr, policy, json, exit_code } => {
            let pr = PullRef::parse(&pr)?;
            let client = client_for(Some(&pr))?;
            let mut link = CoreLink::connect()?;
            let (name, policy) = policy_of(&mut link, &policy)?;
            let facts = review::gather(&client, &pr, None)?;
            let doc = review::decision(&facts, &name, &policy);
            if json {
                println!("{doc}");
            } else {
                print!("{}", review::render(&facts, &name, &policy));
            }
            link.record("review_decision", ("github_pull_request", &pr.to_string()), "read", &doc)?;
            let ready = doc["ready"] == Value::Bool(true);
            Ok(if ready || !exit_code { 0 } else { NOT_READY })
        }
        Command::Merge { pr, policy: args, method, head_sha, json } => {
            if args.policy.is_none() && args.policy_file.is_none() {
                return Err("merge needs an explicit policy: --policy NAME (for example --policy default) or --policy-file FILE".into());
            }
            let pr = PullRef::parse(&pr)?;
            let client = client_for(Some(&pr))?;
            let mut link = CoreLink::connect()?;
            let (name, policy) = policy_of(&mut link, &args)?;
            let touched = ("github_pull_request", pr.to_string());
            let touched = (touched.0, touched.1.as_str());
            let (mut doc, head) =
                match merge::judge(&client, &pr, &name, &policy, method, head_sha.as_deref())? {
                    Judged::Refused { mut doc, reason, blockers } => {
                        doc["merged"] = json!(false);
                        doc["refused"] = json!({"reason": reason, "blockers": blockers});
                        print_refusal(json, &doc, &reason, &blockers);
                        link.record("merge_decision", touched, "merge_refused", &doc)?;
                        return Ok(NOT_READY);
                    }
                    Judged::Ready { doc, head } => (doc, head),
                };
            // Evidence of the attempt before the external effect.
            link.record("merge_attempt", touched, "merge_attempt", &doc)?;
            let outcome = match merge::execute(&client, &pr, &head, method) {
                Ok(outcome) => outcome,
                Err(e) => {
                    doc["merged"] = Value::Null;
                    doc["error"] = json!(e.to_string());
                    link.record("merge_decision", touched, "merge_failed", &doc)?;
                    return Err(e.into());
                }
            };
            match outcome {
                Merged::Done { sha } => {
                    doc["merged"] = json!(true);
                    doc["merge_commit_sha"] = json!(sha);
                    if json {
                        println!("{doc}");
                    } else {
                        println!("merged {pr} ({}) as {sha}", method.as_str());
                    }
                    link.record("merge_decision", touched, "merge", &doc)?;
                    Ok(0)
                }
                Merged::Refused { reason, code } => {
                    doc["merged"] = json!(false);
                    doc["refused"] = json!({"reason": reason, "blockers": [code]});
                    print_refusal(json, &doc, &reason, &[code.to_owned()]);
                    link.record("merge_decision", touched, "merge_refused", &doc)?;
                    Ok(NOT_READY)
                }
            }
        }
        Command::Status { repo, policy, json } => {
            let repo = Repo::parse(&repo)?;
            let client = client_for(None)?;
            let mut link = CoreLink::connect()?;
            let (name, policy) = policy_of(&mut link, &policy)?;
            let doc = status::status(&client, &repo, &name, &policy)?;
            if json {
                println!("{doc}");
            } else {
                print!("{}", status::render(&doc));
            }
            link.record(
                "status_decisions",
                ("github_repository", &repo.to_string()),
                "read",
                &doc,
            )?;
            Ok(0)
        }
        Command::Policy { action } => {
            let mut link = CoreLink::connect()?;
            match action {
                PolicyAction::Set { name, file } => {
                    let path = core_link::workspace_path(&file);
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                    let saved = link.save_policy(&name, &text)?;
                    println!("saved policy {name}: {}", saved.to_json());
                }
                PolicyAction::Show { name } => {
                    let (name, policy) = link.policy(Some(&name), None)?;
                    println!("{}", json!({"name": name, "policy": policy.to_json()}));
                }
                PolicyAction::List => {
                    let mut names = link.policy_names()?;
                    if !names.iter().any(|n| n == policy::DEFAULT) {
                        names.insert(0, format!("{} (built in)", policy::DEFAULT));
                    }
                    for n in names {
                        println!("{n}");
                    }
                }
                PolicyAction::Delete { name } => {
                    if link.saved_policy_text(&name)?.is_none() {
                        return Err(format!("no saved policy named `{name}`").into());
                    }
                    link.delete_policy(&name)?;
                    println!("deleted policy {name}");
                }
            }
            Ok(0)
        }
    }
}

fn print_refusal(json: bool, doc: &Value, reason: &str, codes: &[String]) {
    if json {
        println!("{doc}");
    } else {
        println!("not merged: {reason}");
        for code in codes {
            println!("  - {code}");
        }
    }
}
