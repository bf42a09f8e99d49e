//! Saving seeds under a home: file + `seed.created` event, immutability, idempotence,
//! tamper detection on read, lineage through parent_seed_id.

use ooo_core::home::Home;
use ooo_core::ledger::{Actor, EventQuery, SqliteStore, Store};
use ooo_core::seed::raw::Format;
use ooo_core::seed::store::SaveOutcome;
use ooo_core::seed::{MetadataDefaults, Seed, SeedStore, SeedStoreError, content_hash, load_str};
use std::os::unix::fs::PermissionsExt;

fn seed(id: &str, goal: &str, parent: Option<&str>) -> Seed {
    let parent = parent.map_or("null".to_string(), |p| format!("\"{p}\""));
    let text = format!(
        r#"{{"goal": "{goal}", "acceptance_criteria": ["works"], "ontology_schema": {{"name": "n", "description": "d"}},
            "metadata": {{"seed_id": "{id}", "created_at": "2026-07-02T00:00:00Z", "parent_seed_id": {parent}}}}}"#
    );
    load_str(&text, Format::Json, &MetadataDefaults::generate()).unwrap().seed
}

struct Fixture {
    _dir: tempfile::TempDir,
    home: Home,
    ledger: SqliteStore,
    store: SeedStore,
    actor: Actor,
}

/// The ledger at `path` with this crate's projections registered, as an application
/// opens it.
fn open(path: &std::path::Path) -> SqliteStore {
    let mut ledger = SqliteStore::open(path).unwrap();
    ledger.register_all(ooo_core::PROJECTIONS);
    ledger
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::prepare(dir.path().join("home")).unwrap();
    let ledger = open(&home.ledger_db());
    let store = SeedStore::new(&home);
    Fixture { _dir: dir, home, ledger, store, actor: Actor::user("tester").unwrap() }
}

#[test]
fn save_writes_an_owner_only_file_and_one_event() {
    let mut f = fixture();
    let s = seed("seed_a", "first", None);
    let outcome = f.store.save(&mut f.ledger, &s, &f.actor).unwrap();
    let SaveOutcome::Created { path, content_hash: hash, seq } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(path, f.home.root().join("seeds/seed_a.yaml"));
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(hash, content_hash(&s));
    let events = f
        .ledger
        .query(&EventQuery { aggregate_type: Some("seed".into()), ..Default::default() })
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].seq, seq);
    assert_eq!(events[0].event_type, "seed.created");
    assert_eq!(events[0].aggregate_id, "seed_a");
    assert_eq!(events[0].payload["content_hash"], hash);
    assert_eq!(
        events[0].payload["acceptance_criteria"][0],
        s.acceptance_criteria[0].semantic_ac_key
    );
    assert_eq!(f.store.load(&f.ledger, "seed_a").unwrap(), s);
}

#[test]
fn saving_the_same_seed_again_changes_nothing() {
    let mut f = fixture();
    let s = seed("seed_a", "first", None);
    f.store.save(&mut f.ledger, &s, &f.actor).unwrap();
    let again = f.store.save(&mut f.ledger, &s, &f.actor).unwrap();
    assert!(matches!(again, SaveOutcome::AlreadySaved { seq: 1, .. }), "{again:?}");
    assert_eq!(f.ledger.head().unwrap().unwrap().seq, 1);
}

#[test]
fn changed_content_under_the_same_id_is_refused() {
    let mut f = fixture();
    f.store.save(&mut f.ledger, &seed("seed_a", "first", None), &f.actor).unwrap();
    let before = std::fs::read(f.home.root().join("seeds/seed_a.yaml")).unwrap();
    let err = f.store.save(&mut f.ledger, &seed("seed_a", "changed", None), &f.actor).unwrap_err();
    assert!(matches!(err, SeedStoreError::Conflict { .. }), "{err}");
    assert_eq!(std::fs::read(f.home.root().join("seeds/seed_a.yaml")).unwrap(), before);
    assert_eq!(f.ledger.head().unwrap().unwrap().seq, 1);
}

#[test]
fn the_ledger_decides_what_was_saved() {
    let mut f = fixture();
    f.store.save(&mut f.ledger, &seed("seed_a", "first", None), &f.actor).unwrap();
    let path = f.home.root().join("seeds/seed_a.yaml");
    // Deleting the file does not free the id for other content...
    std::fs::remove_file(&path).unwrap();
    let err = f.store.save(&mut f.ledger, &seed("seed_a", "other", None), &f.actor).unwrap_err();
    assert!(matches!(err, SeedStoreError::Conflict { .. }), "{err}");
    assert!(!path.exists());
    // ...and saving the recorded content again restores the file without a new event,
    // and says so.
    let again = f.store.save(&mut f.ledger, &seed("seed_a", "first", None), &f.actor).unwrap();
    assert!(matches!(again, SaveOutcome::Repaired { seq: 1, found: None, .. }), "{again:?}");
    assert!(path.exists());
    assert_eq!(f.ledger.head().unwrap().unwrap().seq, 1);
    let same = f.store.save(&mut f.ledger, &seed("seed_a", "first", None), &f.actor).unwrap();
    assert!(matches!(same, SaveOutcome::AlreadySaved { seq: 1, .. }), "{same:?}");
    // An edited file's content cannot be saved under the id either.
    let text = std::fs::read_to_string(&path).unwrap().replace("goal: first", "goal: edited");
    std::fs::write(&path, &text).unwrap();
    let edited = load_str(&text, Format::Yaml, &MetadataDefaults::generate()).unwrap().seed;
    assert!(matches!(
        f.store.save(&mut f.ledger, &edited, &f.actor),
        Err(SeedStoreError::Conflict { .. })
    ));
    // The recorded content, saved again, repairs the edited file.
    let repaired = f.store.save(&mut f.ledger, &seed("seed_a", "first", None), &f.actor).unwrap();
    assert!(matches!(repaired, SaveOutcome::Repaired { found: Some(_), .. }), "{repaired:?}");
    assert!(std::fs::read_to_string(&path).unwrap().contains("goal: first"));
    assert_eq!(f.ledger.head().unwrap().unwrap().seq, 1);
}

#[test]
fn concurrent_saves_record_one_event() {
    let f = fixture();
    let db = f.home.ledger_db();
    let root = f.home.root().to_owned();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let db = db.clone();
            let root = root.clone();
            std::thread::spawn(move || {
                let mut ledger = open(&db);
                let store = SeedStore::new(&Home::prepare(&root).unwrap());
                let actor = Actor::user("racer").unwrap();
                store.save(&mut ledger, &seed("seed_race", "same", None), &actor).unwrap()
            })
        })
        .collect();
    let outcomes: Vec<SaveOutcome> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let created = outcomes.iter().filter(|o| matches!(o, SaveOutcome::Created { .. })).count();
    assert_eq!(created, 1, "{outcomes:?}");
    assert_eq!(f.ledger.head().unwrap().unwrap().seq, 1);
}

#[test]
fn edited_file_is_detected_on_load() {
    let mut f = fixture();
    f.store.save(&mut f.ledger, &seed("seed_a", "first", None), &f.actor).unwrap();
    let path = f.home.root().join("seeds/seed_a.yaml");
    let text = std::fs::read_to_string(&path).unwrap().replace("goal: first", "goal: sneaky");
    std::fs::write(&path, text).unwrap();
    let err = f.store.load(&f.ledger, "seed_a").unwrap_err();
    assert!(matches!(err, SeedStoreError::Tampered { .. }), "{err}");
}

#[test]
fn a_file_without_its_event_is_recorded_on_the_next_save() {
    let mut f = fixture();
    let s = seed("seed_a", "first", None);
    // Simulate a save that stopped after the file was written.
    std::fs::create_dir_all(f.home.root().join("seeds")).unwrap();
    std::fs::write(f.home.root().join("seeds/seed_a.yaml"), ooo_core::seed::to_yaml(&s)).unwrap();
    let outcome = f.store.save(&mut f.ledger, &s, &f.actor).unwrap();
    assert!(matches!(outcome, SaveOutcome::Created { seq: 1, .. }), "{outcome:?}");
    assert!(f.store.get(&f.ledger, "seed_a").unwrap().is_some());
}

#[test]
fn unsafe_ids_are_refused() {
    let mut f = fixture();
    for id in ["../escape", "a/b", ".hidden"] {
        let err = f.store.save(&mut f.ledger, &seed(id, "g", None), &f.actor).unwrap_err();
        assert!(matches!(err, SeedStoreError::InvalidId(_)), "{id}: {err}");
    }
    assert!(!f.home.root().join("escape.yaml").exists());
}

#[test]
fn lineage_follows_parents_and_lists_children() {
    let mut f = fixture();
    f.store
        .save(&mut f.ledger, &seed("seed_root", "v1", Some("seed_elsewhere")), &f.actor)
        .unwrap();
    f.store.save(&mut f.ledger, &seed("seed_mid", "v2", Some("seed_root")), &f.actor).unwrap();
    f.store.save(&mut f.ledger, &seed("seed_leaf", "v3", Some("seed_mid")), &f.actor).unwrap();
    f.store.save(&mut f.ledger, &seed("seed_branch", "v3b", Some("seed_mid")), &f.actor).unwrap();
    let lineage = f.store.lineage(&f.ledger, "seed_mid").unwrap();
    let ids: Vec<&str> = lineage.ancestors.iter().map(|s| s.seed_id.as_str()).collect();
    assert_eq!(ids, ["seed_root", "seed_mid"]);
    assert_eq!(lineage.missing_parent.as_deref(), Some("seed_elsewhere"));
    let children: Vec<&str> = lineage.children.iter().map(|s| s.seed_id.as_str()).collect();
    assert_eq!(children, ["seed_branch", "seed_leaf"]);
    // The child's event links to the parent's content hash.
    let leaf_event = &f
        .ledger
        .query(&EventQuery { aggregate_id: Some("seed_leaf".into()), ..Default::default() })
        .unwrap()[0];
    let mid = f.store.get(&f.ledger, "seed_mid").unwrap().unwrap();
    assert_eq!(leaf_event.payload["parent_content_hash"], mid.content_hash);
    // The projection is derived from the ledger: rebuilding it gives the same list.
    let listed = f.store.list(&f.ledger).unwrap();
    f.ledger.rebuild_projection(&ooo_core::seed::store::SeedIndex).unwrap();
    assert_eq!(f.store.list(&f.ledger).unwrap(), listed);
    assert_eq!(listed.len(), 4);
}
