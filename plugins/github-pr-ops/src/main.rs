//! `github-pr-ops`: the reference ooo plugin. Reviews GitHub pull requests against a
//! merge policy and merges them when the policy says ready; run as
//! `ooo github-pr <command> ...` through ooo's firewall, or standalone for testing.
//! This file parses arguments, runs a command and maps outcomes to exit codes:
//! 0 done (ready, merged), 1 error, 2 usage, 3 not ready or merge refused.

use clap::{Parser, Subcommand};
use serde_json::{Value, json};

use github_pr_ops::core_link::{self, CoreLink};
use github_pr_ops::github::{self, Client};
use github_pr_ops::merge::{self, Merged, Method};
use github_pr_ops::target::{PullRef, Repo};
use github_pr_ops::{policy, review};

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
    /// Judge a pull request: state, checks, reviews, permission; exit 3 when not ready.
    Review {
        /// https://github.com/OWNER/REPO/pull/NUMBER or OWNER/REPO#NUMBER
        pr: String,
        #[command(flatten)]
        policy: PolicyArgs,
        #[arg(long)]
        json: bool,
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

fn client() -> Result<Client, github::ApiError> {
    let client = Client::from_env()?;
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
        Command::Review { pr, policy, json } => {
            let pr = PullRef::parse(&pr)?;
            let client = client()?;
            let mut link = CoreLink::connect()?;
            let (name, policy) = policy_of(&mut link, &policy)?;
            let facts = review::gather(&client, &pr, None)?;
            let doc = review::decision(&facts, &name, &policy);
            link.record("review_decision", ("github_pull_request", &pr.to_string()), "read", &doc)?;
            if json {
                println!("{doc}");
            } else {
                print!("{}", review::render(&facts, &name, &policy));
            }
            Ok(if doc["ready"] == Value::Bool(true) { 0 } else { NOT_READY })
        }
        Command::Merge { pr, policy: args, method, head_sha, json } => {
            if args.policy.is_none() && args.policy_file.is_none() {
                return Err("merge needs an explicit policy: --policy NAME (for example --policy default) or --policy-file FILE".into());
            }
            let pr = PullRef::parse(&pr)?;
            let client = client()?;
            let mut link = CoreLink::connect()?;
            let (name, policy) = policy_of(&mut link, &args)?;
            let (mut doc, outcome) =
                merge::merge(&client, &pr, &name, &policy, method, head_sha.as_deref())?;
            let (code, action) = match &outcome {
                Merged::Done { sha } => {
                    doc["merged"] = json!(true);
                    doc["merge_commit_sha"] = json!(sha);
                    (0, "merge")
                }
                Merged::Refused { reason, blockers } => {
                    doc["merged"] = json!(false);
                    doc["refused"] = json!({"reason": reason, "blockers": blockers});
                    (NOT_READY, "merge_refused")
                }
            };
            link.record("merge_decision", ("github_pull_request", &pr.to_string()), action, &doc)?;
            if json {
                println!("{doc}");
            } else {
                match outcome {
                    Merged::Done { sha } => println!("merged {pr} ({}) as {sha}", method.as_str()),
                    Merged::Refused { reason, blockers } => {
                        println!("not merged: {reason}");
                        for b in blockers {
                            println!("  - {b}");
                        }
                    }
                }
            }
            Ok(code)
        }
        Command::Status { repo, policy, json } => {
            let repo = Repo::parse(&repo)?;
            let client = client()?;
            let mut link = CoreLink::connect()?;
            let (name, policy) = policy_of(&mut link, &policy)?;
            let repository = review::repository(&client, &repo)?;
            let path = format!("/repos/{}/{}/pulls?state=open&per_page=100", repo.owner, repo.name);
            let pulls = client.get_all(&path, None)?;
            let mut rows = Vec::new();
            for (i, pull) in pulls.iter().enumerate() {
                let number = pull.get("number").and_then(Value::as_u64).ok_or_else(|| {
                    github::ApiError::Malformed {
                        path: path.clone(),
                        detail: "a pull request without a number".into(),
                    }
                })?;
                eprint!("\rgithub-pr-ops: checking {}/{}", i + 1, pulls.len());
                let pr = PullRef { repo: repo.clone(), number };
                let facts = review::gather(&client, &pr, Some(&repository))?;
                let blockers = policy.blockers(&facts);
                rows.push(json!({
                    "number": number, "title": facts.pull_request.title,
                    "head_sha": facts.pull_request.head_sha, "base": facts.pull_request.base,
                    "ready": blockers.is_empty(), "blockers": blockers,
                }));
            }
            if !pulls.is_empty() {
                eprintln!();
            }
            let doc =
                json!({"repository": repo.to_string(), "policy": name, "pull_requests": rows});
            if json {
                println!("{doc}");
            } else if rows.is_empty() {
                println!("{repo}: no open pull requests");
            } else {
                println!("{repo}: {} open pull request(s), policy {name}", rows.len());
                for r in &rows {
                    let verdict = if r["ready"] == Value::Bool(true) {
                        "READY".to_owned()
                    } else {
                        let codes: Vec<&str> = r["blockers"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                            .collect();
                        format!("blocked: {}", codes.join(", "))
                    };
                    println!(
                        "  #{:<6} {:<50} {verdict}",
                        r["number"],
                        truncate(r["title"].as_str().unwrap_or(""), 50)
                    );
                }
            }
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

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}
