//! What changed between two seeds: goal, task type, constraints, acceptance criteria
//! (matched by `semantic_ac_key`, then, since a changed contract changes the key, a
//! removed and an added criterion with the same description are one changed criterion)
//! with the fields that differ, and ontology fields (matched by name).

use serde::Serialize;
use serde_json::Value;

use super::Seed;

/// A value before and after.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change<T> {
    pub before: T,
    pub after: T,
}

/// A criterion present on one side only.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriterionRef {
    pub key: String,
    pub description: String,
}

/// A criterion on both sides that differs: same key, or same description under a new
/// key (its contract changed).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriterionChange {
    pub key: String,
    /// The new key, when it changed.
    pub key_after: Option<String>,
    /// Each field that differs, in the criterion's field order.
    pub fields: Vec<FieldChange>,
    pub before: Value,
    pub after: Value,
}

/// One field of a criterion, before and after (`null` when absent).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub before: Value,
    pub after: Value,
}

fn criterion_change(
    a: &super::AcceptanceCriterion,
    b: &super::AcceptanceCriterion,
) -> CriterionChange {
    let (before, after) = (a.to_value(), b.to_value());
    let mut names: Vec<&String> = before.as_object().into_iter().flat_map(|o| o.keys()).collect();
    for k in after.as_object().into_iter().flat_map(|o| o.keys()) {
        if !names.contains(&k) {
            names.push(k);
        }
    }
    let fields = names
        .into_iter()
        .filter(|k| k.as_str() != "semantic_ac_key" && before.get(k) != after.get(k))
        .map(|k| FieldChange {
            field: k.clone(),
            before: before.get(k).cloned().unwrap_or(Value::Null),
            after: after.get(k).cloned().unwrap_or(Value::Null),
        })
        .collect();
    CriterionChange {
        key: a.semantic_ac_key.clone(),
        key_after: (a.semantic_ac_key != b.semantic_ac_key).then(|| b.semantic_ac_key.clone()),
        fields,
        before,
        after,
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct SeedDiff {
    pub goal: Option<Change<String>>,
    pub task_type: Option<Change<String>>,
    pub constraints_added: Vec<String>,
    pub constraints_removed: Vec<String>,
    pub criteria_added: Vec<CriterionRef>,
    pub criteria_removed: Vec<CriterionRef>,
    pub criteria_changed: Vec<CriterionChange>,
    pub ontology_fields_added: Vec<String>,
    pub ontology_fields_removed: Vec<String>,
    pub ontology_fields_changed: Vec<String>,
}

impl SeedDiff {
    pub fn is_empty(&self) -> bool {
        *self == SeedDiff::default()
    }
}

fn change<T: PartialEq + Clone>(a: &T, b: &T) -> Option<Change<T>> {
    (a != b).then(|| Change { before: a.clone(), after: b.clone() })
}

/// Compare `a` (before) with `b` (after).
pub fn diff(a: &Seed, b: &Seed) -> SeedDiff {
    let only_in = |x: &[String], y: &[String]| {
        x.iter().filter(|s| !y.contains(s)).cloned().collect::<Vec<_>>()
    };
    let criterion_ref = |c: &super::AcceptanceCriterion| CriterionRef {
        key: c.semantic_ac_key.clone(),
        description: c.description.clone(),
    };
    let find = |seed: &Seed, key: &str| {
        seed.acceptance_criteria.iter().find(|c| c.semantic_ac_key == key).cloned()
    };
    let field = |seed: &Seed, name: &str| {
        seed.ontology_schema.fields.iter().find(|f| f.name == name).cloned()
    };
    let removed: Vec<&super::AcceptanceCriterion> =
        a.acceptance_criteria.iter().filter(|c| find(b, &c.semantic_ac_key).is_none()).collect();
    let mut added: Vec<&super::AcceptanceCriterion> =
        b.acceptance_criteria.iter().filter(|c| find(a, &c.semantic_ac_key).is_none()).collect();
    let mut criteria_changed: Vec<CriterionChange> = a
        .acceptance_criteria
        .iter()
        .filter_map(|c| {
            let other = find(b, &c.semantic_ac_key)?;
            (other != *c).then(|| criterion_change(c, &other))
        })
        .collect();
    let mut criteria_removed = Vec::new();
    for old in removed {
        match added.iter().position(|new| new.description == old.description) {
            Some(i) => criteria_changed.push(criterion_change(old, added.remove(i))),
            None => criteria_removed.push(criterion_ref(old)),
        }
    }
    SeedDiff {
        goal: change(&a.goal, &b.goal),
        task_type: change(&a.task_type, &b.task_type),
        constraints_added: only_in(&b.constraints, &a.constraints),
        constraints_removed: only_in(&a.constraints, &b.constraints),
        criteria_added: added.into_iter().map(criterion_ref).collect(),
        criteria_removed,
        criteria_changed,
        ontology_fields_added: b
            .ontology_schema
            .fields
            .iter()
            .filter(|f| field(a, &f.name).is_none())
            .map(|f| f.name.clone())
            .collect(),
        ontology_fields_removed: a
            .ontology_schema
            .fields
            .iter()
            .filter(|f| field(b, &f.name).is_none())
            .map(|f| f.name.clone())
            .collect(),
        ontology_fields_changed: a
            .ontology_schema
            .fields
            .iter()
            .filter(|f| field(b, &f.name).is_some_and(|g| g != **f))
            .map(|f| f.name.clone())
            .collect(),
    }
}
