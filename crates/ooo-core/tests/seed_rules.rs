//! Seed validation, rule by rule (a valid and an invalid case each, with the path the
//! problem is reported at), the input coercions, and upstream's own seeds.

use ooo_core::seed::raw::Format;
use ooo_core::seed::{MetadataDefaults, Seed, content_hash, load_file, load_str, to_yaml};
use serde_json::{Value, json};

fn defaults() -> MetadataDefaults {
    MetadataDefaults {
        seed_id: "seed_generated".into(),
        created_at: "2026-11-25T00:00:00.000000Z".into(),
    }
}

/// A minimal valid seed with `patch` merged in at the top level.
fn seed_with(patch: Value) -> Value {
    let mut base = json!({
        "goal": "Build hello CLI",
        "ontology_schema": {"name": "Hello", "description": "Hello domain"},
        "metadata": {"seed_id": "seed_test"},
    });
    for (k, v) in patch.as_object().unwrap() {
        base[k] = v.clone();
    }
    base
}

fn load(doc: &Value) -> Result<Seed, Vec<String>> {
    load_str(&doc.to_string(), Format::Json, &defaults())
        .map(|v| v.seed)
        .map_err(|inv| inv.problems.iter().map(|p| p.to_string()).collect())
}

fn ac(criterion: Value) -> Value {
    seed_with(json!({ "acceptance_criteria": [criterion] }))
}

#[track_caller]
fn rejects(doc: Value, expected: &str) {
    match load(&doc) {
        Ok(_) => panic!("accepted, expected a problem containing {expected:?}: {doc}"),
        Err(problems) => assert!(
            problems.iter().any(|p| p.contains(expected)),
            "expected a problem containing {expected:?}, got {problems:#?}"
        ),
    }
}

#[track_caller]
fn accepts(doc: Value) -> Seed {
    load(&doc).unwrap_or_else(|p| panic!("rejected {doc}: {p:#?}"))
}

#[test]
fn required_fields() {
    accepts(seed_with(json!({})));
    rejects(
        json!({"ontology_schema": {"name": "n", "description": "d"}, "metadata": {}}),
        "goal is required",
    );
    rejects(seed_with(json!({"goal": ""})), "goal must not be empty");
    rejects(seed_with(json!({"goal": 5})), "goal must be a string, found a number");
    let mut no_ontology = seed_with(json!({}));
    no_ontology.as_object_mut().unwrap().remove("ontology_schema");
    rejects(no_ontology, "ontology_schema is required");
    let mut no_metadata = seed_with(json!({}));
    no_metadata.as_object_mut().unwrap().remove("metadata");
    rejects(no_metadata, "metadata is required");
    rejects(json!(["not", "a", "mapping"]), "the seed must be an object");
}

#[test]
fn defaults_are_upstreams() {
    let seed = accepts(
        json!({"goal": "g", "ontology_schema": {"name": "n", "description": "d"}, "metadata": {}}),
    );
    assert_eq!(seed.task_type, "code");
    assert_eq!(seed.brownfield_context.project_type, "greenfield");
    assert_eq!(seed.metadata.seed_id, "seed_generated");
    assert_eq!(seed.metadata.version, "1.0.0");
    assert_eq!(seed.metadata.ambiguity_score, 0.15);
    assert_eq!(seed.metadata.generation_mode, "normal");
    assert!(!seed.metadata.degraded);
    let generated = MetadataDefaults::generate();
    assert!(
        generated.seed_id.starts_with("seed_") && generated.seed_id.len() == 17,
        "{}",
        generated.seed_id
    );
}

#[test]
fn output_assertion_needs_verify_command() {
    accepts(ac(json!({"description": "d", "verify_command": "make", "output_assertion": "ok"})));
    rejects(
        ac(json!({"description": "d", "output_assertion": "ok"})),
        "acceptance_criteria[0].output_assertion requires verify_command",
    );
    rejects(
        ac(json!({"description": "d", "verify_command": "NONE", "output_assertion": "ok"})),
        "requires verify_command",
    );
    // An exit-status phrase is a condition, not output, and is dropped...
    let seed = accepts(ac(
        json!({"description": "d", "verify_command": "make", "output_assertion": "Exit code 0"}),
    ));
    assert_eq!(seed.acceptance_criteria[0].output_assertion, None);
    // ...but upstream's raw check still wants a command next to it.
    rejects(
        ac(json!({"description": "d", "output_assertion": "passes"})),
        "requires verify_command",
    );
    // A blank or NONE assertion is absent.
    let seed = accepts(ac(json!({"description": "d", "output_assertion": " none "})));
    assert_eq!(seed.acceptance_criteria[0].output_assertion, None);
}

#[test]
fn verify_command_and_exemption_exclude_each_other() {
    accepts(ac(json!({"description": "d", "verify_exemption_reason": "needs a human eye"})));
    rejects(
        ac(json!({"description": "d", "verify_command": "make", "verify_exemption_reason": "x"})),
        "acceptance_criteria[0].verify_exemption_reason is mutually exclusive with verify_command",
    );
    // NONE means absent, so this is fine.
    accepts(ac(
        json!({"description": "d", "verify_command": "make", "verify_exemption_reason": "NONE"}),
    ));
}

#[test]
fn expected_artifacts_must_be_portable_relative_paths() {
    let seed = accepts(ac(
        json!({"description": "d", "expected_artifacts": ["src/main.rs", "./my notes.md"]}),
    ));
    assert_eq!(seed.acceptance_criteria[0].expected_artifacts.len(), 2);
    let cases = [
        ("../escape.txt", "escapes workspace"),
        ("/etc/passwd", "is absolute"),
        ("C:/Windows", "is absolute"),
        ("dir\\file", "backslash"),
        ("bad\u{7}bell", "control character"),
        ("docs/CON.md", "Windows-reserved"),
        ("trailing.", "ending in a space or dot"),
        ("my notes.md", "ambiguous prose"),
    ];
    for (path, why) in cases {
        rejects(ac(json!({"description": "d", "expected_artifacts": ["ok.txt", path]})), why);
        rejects(
            ac(json!({"description": "d", "expected_artifacts": ["ok.txt", path]})),
            "acceptance_criteria[0].expected_artifacts[1]",
        );
    }
    let long_component = "x".repeat(256);
    rejects(
        ac(json!({"description": "d", "expected_artifacts": [long_component]})),
        "component longer than 255",
    );
    rejects(
        ac(json!({"description": "d", "expected_artifacts": [1]})),
        "expected_artifacts[0] must be a string",
    );
    let many: Vec<String> = (0..254).map(|i| format!("f{i}")).collect();
    rejects(ac(json!({"description": "d", "expected_artifacts": many})), "at most 253");
}

#[test]
fn expected_artifacts_as_a_string_list() {
    let seed = accepts(ac(json!({"description": "d", "expected_artifacts": "a.txt, docs/b.md"})));
    assert_eq!(seed.acceptance_criteria[0].expected_artifacts, ["a.txt", "docs/b.md"]);
    let seed = accepts(ac(json!({"description": "d", "expected_artifacts": "NONE"})));
    assert!(seed.acceptance_criteria[0].expected_artifacts.is_empty());
    rejects(ac(json!({"description": "d", "expected_artifacts": "a.txt, , b"})), "cannot be empty");
}

#[test]
fn contract_budget() {
    let huge = "x".repeat(64_001);
    rejects(ac(json!({"description": "d", "verify_command": huge})), "budget is 64000");
}

#[test]
fn semantic_keys() {
    rejects(
        ac(json!({"description": "d", "semantic_ac_key": "ac_NOTHEX0000000000"})),
        "semantic_ac_key must look like",
    );
    let seed = accepts(ac(json!({"description": "d", "semantic_ac_key": "ac_0123456789abcdef"})));
    assert_eq!(
        seed.acceptance_criteria[0].semantic_ac_key, "ac_0123456789abcdef",
        "an explicit key is kept"
    );
    // Same contract, same key, wherever it appears; whitespace around text does not count.
    let a = accepts(seed_with(
        json!({"acceptance_criteria": ["CLI exits 0", {"description": "  CLI exits 0 "}]}),
    ));
    assert_eq!(a.acceptance_criteria[0].semantic_ac_key, "ac_1aae269ff0479bca");
    assert_eq!(a.acceptance_criteria[1].semantic_ac_key, "ac_1aae269ff0479bca");
}

#[test]
fn coercions() {
    let seed = accepts(seed_with(json!({
        "acceptance_criteria": ["plain", {"criterion": "from criterion"}, {"content": "from content"}],
        "evaluation_principles": ["clarity", {"name": "speed", "description": "fast", "weight": "0.5"}],
        "exit_conditions": ["all green", {"name": "n", "description": "d", "evaluation_criteria": "c"}],
        "ontology_schema": {"name": "n", "description": "d", "fields": [{"name": "f", "field_type": "string", "description": "x", "required": "no"}]},
        "metadata": {"seed_id": "s", "degraded": 1, "ambiguity_score": 0},
    })));
    let descriptions: Vec<&str> =
        seed.acceptance_criteria.iter().map(|c| c.description.as_str()).collect();
    assert_eq!(descriptions, ["plain", "from criterion", "from content"]);
    assert_eq!(seed.evaluation_principles[0].name, "principle_1");
    assert_eq!(seed.evaluation_principles[0].weight, 1.0);
    assert_eq!(seed.evaluation_principles[1].weight, 0.5);
    assert_eq!(seed.exit_conditions[0].name, "condition_1");
    assert_eq!(seed.exit_conditions[0].evaluation_criteria, "all green");
    assert_eq!(seed.exit_conditions[1].evaluation_criteria, "c");
    assert_eq!(seed.ontology_schema.fields[0].field_type, "string");
    assert!(!seed.ontology_schema.fields[0].required);
    assert!(seed.metadata.degraded);
    // Output uses upstream's aliases.
    let out = seed.to_value();
    assert_eq!(out["exit_conditions"][1]["criteria"], "c");
    assert_eq!(out["ontology_schema"]["fields"][0]["type"], "string");
    assert!(out["acceptance_criteria"][0]["semantic_ac_key"].as_str().unwrap().starts_with("ac_"));
    // A null criterion is not coerced.
    rejects(
        seed_with(json!({"acceptance_criteria": [null]})),
        "acceptance_criteria[0] must be a string or an object, found null",
    );
}

#[test]
fn ranges_and_types() {
    rejects(
        seed_with(
            json!({"evaluation_principles": [{"name": "n", "description": "d", "weight": 1.5}]}),
        ),
        "evaluation_principles[0].weight must be between 0 and 1",
    );
    rejects(
        seed_with(json!({"metadata": {"ambiguity_score": -0.1}})),
        "metadata.ambiguity_score must be between 0 and 1",
    );
    rejects(
        seed_with(json!({"metadata": {"created_at": "last tuesday"}})),
        "metadata.created_at must be an ISO 8601",
    );
    rejects(
        seed_with(json!({"metadata": {"generation_mode": ""}})),
        "metadata.generation_mode must not be empty",
    );
    rejects(
        seed_with(json!({"metadata": {"degraded": "maybe"}})),
        "metadata.degraded must be a boolean",
    );
    rejects(seed_with(json!({"constraints": "one string"})), "constraints must be a list");
    rejects(seed_with(json!({"constraints": ["ok", 3]})), "constraints[1] must be a string");
    rejects(
        seed_with(json!({"exit_conditions": [{"name": "n", "description": "d"}]})),
        "exit_conditions[0].evaluation_criteria is required",
    );
    rejects(
        seed_with(
            json!({"ontology_schema": {"name": "n", "description": "d", "fields": [{"name": "f", "description": "x"}]}}),
        ),
        "fields[0].field_type is required",
    );
    rejects(
        seed_with(json!({"brownfield_context": {"context_references": [{"path": ""}]}})),
        "context_references[0].path must not be empty",
    );
    rejects(
        ac(json!({"description": "d", "investment": {"difficulty": "extreme"}})),
        "investment.difficulty must be one of low, medium, high",
    );
    accepts(seed_with(json!({"metadata": {"created_at": 1_700_000_000}})));
    accepts(seed_with(json!({"metadata": {"created_at": "2026-07-02"}})));
    accepts(seed_with(json!({"metadata": {"created_at": "2026-07-02T10:00:00+09:00"}})));
}

#[test]
fn every_problem_is_reported_at_once() {
    let doc = seed_with(json!({
        "goal": "",
        "acceptance_criteria": [{"description": "d", "expected_artifacts": ["/abs"]}, 7],
        "metadata": {"ambiguity_score": 2},
    }));
    let problems = load(&doc).unwrap_err();
    assert_eq!(problems.len(), 4, "{problems:#?}");
}

#[test]
fn extra_keys_are_kept_in_order_and_unknown_nested_keys_warn() {
    let text = r#"{"goal": "g", "zeta": {"b": 1, "a": [true]}, "ontology_schema": {"name": "n", "description": "d", "typo": 1}, "metadata": {}, "alpha": "x"}"#;
    let valid = load_str(text, Format::Json, &defaults()).unwrap();
    let keys: Vec<&String> = valid.seed.extra.keys().collect();
    assert_eq!(keys, ["zeta", "alpha"]);
    assert_eq!(valid.warnings.len(), 1);
    assert_eq!(valid.warnings[0].to_string(), "ontology_schema.typo unknown key, ignored");
    let out = valid.seed.to_value();
    let top: Vec<&String> = out.as_object().unwrap().keys().collect();
    assert_eq!(top.last().map(|k| k.as_str()), Some("alpha"));
    rejects(
        seed_with(json!({"conductor_directive": "go"})),
        "conductor_directive must be a structured object",
    );
}

/// Upstream's own seeds load unchanged, and their criteria get upstream's keys
/// (computed with the ouroboros-ai package).
#[test]
fn upstream_seeds_load() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/upstream/core-seeds");
    if !dir.exists() {
        eprintln!(
            "skipping: {} is absent (conformance vectors live in the steering repository)",
            dir.display()
        );
        return;
    }
    let expected_first_keys = [
        ("legacy-seed-minimal.json", "ac_1aae269ff0479bca", 2),
        ("seed_73827177a2a3.yaml", "ac_4e8d260e58f74842", 9),
        ("seed_78c8e6e41813.yaml", "ac_4b5b523e8fefdff4", 16),
    ];
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let valid =
            load_file(&path, &defaults()).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
        assert!(valid.warnings.is_empty(), "{}: {:?}", path.display(), valid.warnings);
        let name = path.file_name().unwrap().to_str().unwrap();
        if let Some((_, key, count)) = expected_first_keys.iter().find(|(n, _, _)| *n == name) {
            assert_eq!(valid.seed.acceptance_criteria.len(), *count, "{name}");
            assert_eq!(valid.seed.acceptance_criteria[0].semantic_ac_key, *key, "{name}");
            seen += 1;
        }
        // Round trip through our YAML keeps every key and the hash.
        let again = load_str(&to_yaml(&valid.seed), Format::Yaml, &defaults()).unwrap().seed;
        assert_eq!(again, valid.seed, "{name}");
        assert_eq!(content_hash(&again), content_hash(&valid.seed));
    }
    assert_eq!(seen, expected_first_keys.len());
}

mod properties {
    //! Random seeds round-trip; no input panics the loader.
    use super::*;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9 _.:/é✓-]{1,24}"
    }

    fn criterion() -> impl Strategy<Value = Value> {
        prop_oneof![
            text().prop_map(Value::String),
            (text(), prop::option::of(text()), prop::collection::vec(r"[a-z]{1,8}(/[a-z]{1,8}){0,2}\.txt", 0..3))
                .prop_map(|(d, cmd, arts)| json!({"description": d, "verify_command": cmd, "expected_artifacts": arts})),
        ]
    }

    fn seed_doc() -> impl Strategy<Value = Value> {
        (
            text(),
            prop::collection::vec(text(), 0..4),
            prop::collection::vec(criterion(), 0..5),
            prop::collection::vec((text(), text(), 0.0f64..=1.0), 0..3),
            prop::collection::vec(text(), 0..3),
            0.0f64..=1.0,
            prop::option::of(prop::collection::vec(any::<i32>(), 0..3)),
        )
            .prop_map(|(goal, constraints, acs, principles, exits, score, extra)| {
                let mut doc = json!({
                    "goal": goal,
                    "constraints": constraints,
                    "acceptance_criteria": acs,
                    "ontology_schema": {"name": "n", "description": "d", "fields": [{"name": "f", "type": "string", "description": "x"}]},
                    "evaluation_principles": principles.iter().map(|(n, d, w)| json!({"name": n, "description": d, "weight": w})).collect::<Vec<_>>(),
                    "exit_conditions": exits,
                    "metadata": {"seed_id": "seed_prop", "created_at": "2026-07-02T00:00:00Z", "ambiguity_score": score},
                });
                if let Some(extra) = extra {
                    doc["x_plugin"] = json!({"values": extra});
                }
                doc
            })
    }

    proptest! {
        #[test]
        fn random_seeds_round_trip(doc in seed_doc()) {
            let first = load(&doc).map_err(|p| TestCaseError::fail(format!("{p:?}")))?;
            let yaml = to_yaml(&first);
            let second = load_str(&yaml, Format::Yaml, &defaults()).map_err(|p| TestCaseError::fail(format!("{:?}
    {yaml}", p.problems)))?.seed;
            prop_assert_eq!(&first, &second);
            prop_assert_eq!(content_hash(&first), content_hash(&second));
            let keys: Vec<String> = first.to_value().as_object().unwrap().keys().cloned().collect();
            let keys_again: Vec<String> = second.to_value().as_object().unwrap().keys().cloned().collect();
            prop_assert_eq!(keys, keys_again);
        }

        #[test]
        fn no_text_panics_the_loader(text in r"\PC{0,400}") {
            let _ = load_str(&text, Format::Yaml, &defaults());
            let _ = load_str(&text, Format::Json, &defaults());
        }

        #[test]
        fn no_document_panics_the_validator(doc in arbitrary_json(4)) {
            let _ = load(&doc);
            let _ = load(&seed_with(json!({"acceptance_criteria": [doc.clone()], "metadata": doc})));
        }
    }

    fn arbitrary_json(depth: u32) -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            (-1e6f64..1e6).prop_map(Value::from),
            "[ -~é]{0,12}".prop_map(Value::String),
            prop::sample::select(vec![
                "goal",
                "NONE",
                "exit code 0",
                "../x",
                "con",
                "description",
                "verify_command"
            ])
            .prop_map(|s| Value::String(s.into())),
        ];
        leaf.prop_recursive(depth, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(
                    (
                        prop::sample::select(vec![
                            "goal",
                            "description",
                            "verify_command",
                            "output_assertion",
                            "expected_artifacts",
                            "metadata",
                            "ontology_schema",
                            "name",
                            "weight",
                            "criteria",
                            "x"
                        ]),
                        inner
                    ),
                    0..6
                )
                .prop_map(|kv| Value::Object(
                    kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
                )),
            ]
        })
    }
}
