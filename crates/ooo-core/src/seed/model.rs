//! The Seed's typed model and its serialised form.
//!
//! Field names, defaults and the order of keys on output follow upstream's Seed, so a
//! seed written by either implementation reads the same in the other. Parsing and its
//! coercions live in `parse`; this module only holds data and turns it back into JSON.

use serde_json::{Map, Value, json};

/// An immutable specification: what to build, how to judge it, when to stop.
#[derive(Debug, Clone, PartialEq)]
pub struct Seed {
    pub goal: String,
    pub task_type: String,
    pub brownfield_context: BrownfieldContext,
    pub constraints: Vec<String>,
    pub acceptance_criteria: Vec<AcceptanceCriterion>,
    pub ontology_schema: OntologySchema,
    pub evaluation_principles: Vec<EvaluationPrinciple>,
    pub exit_conditions: Vec<ExitCondition>,
    pub metadata: SeedMetadata,
    /// Top-level keys owned by programs and plugins, in input order. Plain data only.
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BrownfieldContext {
    pub project_type: String,
    pub context_references: Vec<ContextReference>,
    pub existing_patterns: Vec<String>,
    pub existing_dependencies: Vec<String>,
}

impl Default for BrownfieldContext {
    fn default() -> Self {
        Self {
            project_type: "greenfield".into(),
            context_references: Vec::new(),
            existing_patterns: Vec::new(),
            existing_dependencies: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContextReference {
    pub path: String,
    pub role: String,
    pub summary: String,
}

/// One acceptance criterion with its (optional) deterministic success contract.
#[derive(Debug, Clone, PartialEq)]
pub struct AcceptanceCriterion {
    pub description: String,
    /// `ac_` + 16 hex digits; derived from the contract unless the input carried one.
    pub semantic_ac_key: String,
    pub verify_command: Option<String>,
    pub expected_artifacts: Vec<String>,
    pub output_assertion: Option<String>,
    pub verify_exemption_reason: Option<String>,
    pub investment: Option<Investment>,
}

/// How much an acceptance criterion deserves to be invested in, and how that is known.
#[derive(Debug, Clone, PartialEq)]
pub struct Investment {
    /// `low`, `medium` or `high`.
    pub difficulty: Option<String>,
    pub stakes: Option<String>,
    /// `declared`, `measured`, `inferred` or `absent`.
    pub provenance: String,
    /// `low`, `medium` or `high`.
    pub confidence: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OntologySchema {
    pub name: String,
    pub description: String,
    pub fields: Vec<OntologyField>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OntologyField {
    pub name: String,
    /// Written as `type`; `field_type` is accepted on input.
    pub field_type: String,
    pub description: String,
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EvaluationPrinciple {
    pub name: String,
    pub description: String,
    /// 0 to 1, default 1.
    pub weight: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExitCondition {
    pub name: String,
    pub description: String,
    /// Written as `criteria`; `evaluation_criteria` is accepted on input.
    pub evaluation_criteria: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SeedMetadata {
    pub seed_id: String,
    pub version: String,
    /// ISO 8601 as written in the seed.
    pub created_at: String,
    /// 0 to 1.
    pub ambiguity_score: f64,
    pub interview_id: Option<String>,
    pub parent_seed_id: Option<String>,
    pub generation_mode: String,
    pub degraded: bool,
    pub unresolved_slots: Vec<String>,
    pub recovery_reason: Option<String>,
    /// Decision origin -> count; written only when not empty.
    pub decision_provenance: Map<String, Value>,
}

impl Seed {
    /// The seed as a JSON object, keys in upstream's order, every acceptance criterion an
    /// object carrying its `semantic_ac_key`.
    pub fn to_value(&self) -> Value {
        let mut out = Map::new();
        out.insert("goal".into(), json!(self.goal));
        out.insert("task_type".into(), json!(self.task_type));
        out.insert("brownfield_context".into(), self.brownfield_context.to_value());
        out.insert("constraints".into(), json!(self.constraints));
        out.insert(
            "acceptance_criteria".into(),
            Value::Array(
                self.acceptance_criteria.iter().map(AcceptanceCriterion::to_value).collect(),
            ),
        );
        out.insert("ontology_schema".into(), self.ontology_schema.to_value());
        out.insert(
            "evaluation_principles".into(),
            Value::Array(
                self.evaluation_principles
                    .iter()
                    .map(|p| json!({"name": p.name, "description": p.description, "weight": p.weight}))
                    .collect(),
            ),
        );
        out.insert(
            "exit_conditions".into(),
            Value::Array(
                self.exit_conditions
                    .iter()
                    .map(|c| json!({"name": c.name, "description": c.description, "criteria": c.evaluation_criteria}))
                    .collect(),
            ),
        );
        out.insert("metadata".into(), self.metadata.to_value());
        for (key, value) in &self.extra {
            out.insert(key.clone(), value.clone());
        }
        Value::Object(out)
    }

    /// The seed's id (`metadata.seed_id`).
    pub fn id(&self) -> &str {
        &self.metadata.seed_id
    }
}

impl BrownfieldContext {
    fn to_value(&self) -> Value {
        json!({
            "project_type": self.project_type,
            "context_references": self.context_references.iter()
                .map(|r| json!({"path": r.path, "role": r.role, "summary": r.summary}))
                .collect::<Vec<_>>(),
            "existing_patterns": self.existing_patterns,
            "existing_dependencies": self.existing_dependencies,
        })
    }
}

impl AcceptanceCriterion {
    /// The persisted form: only the fields that carry something.
    pub fn to_value(&self) -> Value {
        let mut out = Map::new();
        out.insert("description".into(), json!(self.description));
        out.insert("semantic_ac_key".into(), json!(self.semantic_ac_key));
        if let Some(cmd) = &self.verify_command {
            out.insert("verify_command".into(), json!(cmd));
        }
        if !self.expected_artifacts.is_empty() {
            out.insert("expected_artifacts".into(), json!(self.expected_artifacts));
        }
        if let Some(a) = &self.output_assertion {
            out.insert("output_assertion".into(), json!(a));
        }
        if let Some(r) = &self.verify_exemption_reason {
            out.insert("verify_exemption_reason".into(), json!(r));
        }
        if let Some(inv) = &self.investment {
            let mut m = Map::new();
            if let Some(d) = &inv.difficulty {
                m.insert("difficulty".into(), json!(d));
            }
            if let Some(s) = &inv.stakes {
                m.insert("stakes".into(), json!(s));
            }
            m.insert("provenance".into(), json!(inv.provenance));
            m.insert("confidence".into(), json!(inv.confidence));
            out.insert("investment".into(), Value::Object(m));
        }
        Value::Object(out)
    }
}

impl OntologySchema {
    fn to_value(&self) -> Value {
        json!({
            "name": self.name,
            "description": self.description,
            "fields": self.fields.iter().map(|f| json!({
                "name": f.name,
                "type": f.field_type,
                "description": f.description,
                "required": f.required,
            })).collect::<Vec<_>>(),
        })
    }
}

impl SeedMetadata {
    fn to_value(&self) -> Value {
        let mut out = json!({
            "seed_id": self.seed_id,
            "version": self.version,
            "created_at": self.created_at,
            "ambiguity_score": self.ambiguity_score,
            "interview_id": self.interview_id,
            "parent_seed_id": self.parent_seed_id,
            "generation_mode": self.generation_mode,
            "degraded": self.degraded,
            "unresolved_slots": self.unresolved_slots,
            "recovery_reason": self.recovery_reason,
        });
        if !self.decision_provenance.is_empty() {
            out["decision_provenance"] = Value::Object(self.decision_provenance.clone());
        }
        out
    }
}
