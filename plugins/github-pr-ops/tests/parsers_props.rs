//! Property tests for what the plugin parses from users and from GitHub: pull request
//! references, repository names, policy TOML and API answers. None may panic on any
//! input, and what they accept must mean what it says.

use github_pr_ops::facts::{Checks, PullRequest, Reviews, can_write};
use github_pr_ops::github::{RateHeaders, next_link, rate_limit_wait};
use github_pr_ops::policy::Policy;
use github_pr_ops::target::{PullRef, Repo};
use proptest::prelude::*;
use serde_json::Value;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[a-zA-Z_ ]{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("APPROVED"),
            Just("CHANGES_REQUESTED"),
            Just("DISMISSED"),
            Just("completed"),
            Just("success"),
            Just("open")
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("state".to_owned()),
                    Just("user".to_owned()),
                    Just("login".to_owned()),
                    Just("name".to_owned()),
                    Just("status".to_owned()),
                    Just("conclusion".to_owned()),
                    Just("head".to_owned()),
                    Just("sha".to_owned()),
                    Just("permissions".to_owned()),
                    "[a-z_]{1,8}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn references_never_panic(input in "\\PC{0,80}") {
        let _ = PullRef::parse(&input);
        let _ = Repo::parse(&input);
    }

    /// A valid reference round-trips through both spellings.
    #[test]
    fn valid_references_round_trip(
        owner in "[a-zA-Z0-9][a-zA-Z0-9-]{0,20}",
        repo in "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,20}",
        number in 1u64..10_000_000,
    ) {
        prop_assume!(repo != "." && repo != ".." && !repo.ends_with(".git"));
        let url = format!("https://github.com/{owner}/{repo}/pull/{number}");
        let parsed = PullRef::parse(&url).unwrap();
        prop_assert_eq!(&parsed.repo.owner, &owner);
        prop_assert_eq!(&parsed.repo.name, &repo);
        prop_assert_eq!(parsed.number, number);
        prop_assert_eq!(parsed.host.as_deref(), Some("github.com"));
        let short = PullRef::parse(&parsed.to_string()).unwrap();
        prop_assert_eq!((short.repo, short.number, short.host), (parsed.repo, parsed.number, None));
    }

    /// Whatever is accepted is safe to put in a request path.
    #[test]
    fn accepted_references_are_path_safe(input in "[a-z0-9./#:%?-]{0,40}") {
        if let Ok(p) = PullRef::parse(&input) {
            for part in [&p.repo.owner, &p.repo.name] {
                prop_assert!(!part.contains('/') && !part.contains('%') && part != ".." && part != ".");
            }
        }
    }

    #[test]
    fn policies_never_panic(text in "\\PC{0,200}") {
        let _ = Policy::parse("p", &text);
    }

    #[test]
    fn api_answers_never_panic(v in json_value()) {
        let _ = PullRequest::from_json("o", "r", &v);
        let list = v.as_array().cloned().unwrap_or_else(|| vec![v.clone()]);
        let _ = Reviews::from_json(&list);
        let _ = Checks::from_json(&list, &list);
        let _ = can_write(&v);
    }

    #[test]
    fn headers_never_panic(link in "\\PC{0,120}", a in "\\PC{0,12}", b in "\\PC{0,12}", status in 100u16..600) {
        let _ = next_link(&link);
        let h = RateHeaders { retry_after: Some(a.clone()), remaining: Some(b.clone()), reset: Some(a.clone()) };
        let _ = rate_limit_wait(status, &h, &link, u64::MAX);
    }
}
