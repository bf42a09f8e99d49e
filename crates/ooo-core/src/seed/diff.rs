//! What changed between two seeds: goal, task type, constraints, acceptance criteria
//! (matched by `semantic_ac_key`) and ontology fields (matched by name).

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

/// A criterion whose key is on both sides but whose contract differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriterionChange {
    pub key: String,
    pub before: Value,
    pub after: Value,
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
    SeedDiff {
        goal: change(&a.goal, &b.goal),
        task_type: change(&a.task_type, &b.task_type),
        constraints_added: only_in(&b.constraints, &a.constraints),
        constraints_removed: only_in(&a.constraints, &b.constraints),
        criteria_added: b
            .acceptance_criteria
            .iter()
            .filter(|c| find(a, &c.semantic_ac_key).is_none())
            .map(criterion_ref)
            .collect(),
        criteria_removed: a
            .acceptance_criteria
            .iter()
            .filter(|c| find(b, &c.semantic_ac_key).is_none())
            .map(criterion_ref)
            .collect(),
        criteria_changed: a
            .acceptance_criteria
            .iter()
            .filter_map(|c| {
                let other = find(b, &c.semantic_ac_key)?;
                (other != *c).then(|| CriterionChange {
                    key: c.semantic_ac_key.clone(),
                    before: c.to_value(),
                    after: other.to_value(),
                })
            })
            .collect(),
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
