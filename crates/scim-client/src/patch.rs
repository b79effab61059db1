//! PATCH requests (RFC 7644 section 3.5.2), built from typed paths.

use serde_json::{Value, json};

use scim_filter::{AttrPath, CompValue, CompareOp, Filter, PatchPath};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// One PATCH operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    /// `add`: adds `value` at `path` (into the resource itself when `None`).
    Add(Option<PatchPath>, Value),
    /// `replace`: replaces what is at `path` (the named attributes when `None`) with `value`.
    Replace(Option<PatchPath>, Value),
    /// `remove`: removes what `path` names.
    Remove(PatchPath),
}

impl Operation {
    fn to_json(&self) -> Value {
        let with = |op: &str, path: &Option<PatchPath>, value: &Value| match path {
            Some(path) => json!({"op": op, "path": path.to_string(), "value": value}),
            None => json!({"op": op, "value": value}),
        };
        match self {
            Operation::Add(path, value) => with("add", path, value),
            Operation::Replace(path, value) => with("replace", path, value),
            Operation::Remove(path) => json!({"op": "remove", "path": path.to_string()}),
        }
    }

    /// How many member additions or removals this operation carries.
    fn member_changes(&self) -> usize {
        match self {
            Operation::Add(Some(path), Value::Array(values)) if is_members(path) => values.len(),
            Operation::Remove(path) if path.attr.is("members") && path.filter.is_some() => 1,
            _ => 0,
        }
    }
}

fn is_members(path: &PatchPath) -> bool {
    path.filter.is_none() && path.attr.is("members")
}

/// A PATCH request body: a list of operations applied in order, all or nothing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PatchOp {
    /// The operations, in order.
    pub operations: Vec<Operation>,
}

impl PatchOp {
    /// An empty request.
    pub fn new() -> PatchOp {
        PatchOp::default()
    }

    /// Whether the request holds no operation (and so need not be sent).
    pub fn is_empty(&self) -> bool {
        self.operations.is_empty()
    }

    /// Adds a `replace` of the attribute `path` with `value`.
    #[must_use]
    pub fn replace(mut self, path: AttrPath, value: Value) -> PatchOp {
        self.operations.push(Operation::Replace(Some(PatchPath { attr: path, filter: None }), value));
        self
    }

    /// Adds a `remove` of the attribute `path`.
    #[must_use]
    pub fn remove(mut self, path: AttrPath) -> PatchOp {
        self.operations.push(Operation::Remove(PatchPath { attr: path, filter: None }));
        self
    }

    /// Adds the users or groups `ids` to a Group's members.
    #[must_use]
    pub fn add_members<'a>(mut self, ids: impl IntoIterator<Item = &'a str>) -> PatchOp {
        let values: Vec<Value> = ids.into_iter().map(|id| json!({"value": id})).collect();
        if !values.is_empty() {
            let path = PatchPath { attr: AttrPath::new("members"), filter: None };
            self.operations.push(Operation::Add(Some(path), Value::Array(values)));
        }
        self
    }

    /// Removes the member `id` from a Group, as `members[value eq "id"]`, which every
    /// provider accepts (Identity Center and Okta alike).
    #[must_use]
    pub fn remove_member(mut self, id: &str) -> PatchOp {
        let filter =
            Filter::Compare { path: AttrPath::new("value"), op: CompareOp::Eq, value: CompValue::Str(id.into()) };
        self.operations.push(Operation::Remove(PatchPath { attr: AttrPath::new("members"), filter: Some(filter) }));
        self
    }

    /// Splits the request into requests that each add or remove at most `max` members, in
    /// order; other operations travel in the first request. `max` of 0 counts as 1.
    pub fn chunked(self, max: usize) -> Vec<PatchOp> {
        let max = max.max(1);
        let mut out: Vec<PatchOp> = Vec::new();
        let mut current = PatchOp::new();
        let mut changes = 0;
        for op in self.operations {
            let pieces = match op {
                Operation::Add(Some(path), Value::Array(values)) if is_members(&path) => values
                    .chunks(max)
                    .map(|chunk| Operation::Add(Some(path.clone()), Value::Array(chunk.to_vec())))
                    .collect(),
                other => vec![other],
            };
            for piece in pieces {
                let n = piece.member_changes();
                if n > 0 && changes + n > max {
                    out.push(std::mem::take(&mut current));
                    changes = 0;
                }
                changes += n;
                current.operations.push(piece);
            }
        }
        if !current.is_empty() {
            out.push(current);
        }
        out
    }

    /// The request body.
    pub fn to_json(&self) -> Value {
        let operations: Vec<Value> = self.operations.iter().map(Operation::to_json).collect();
        json!({"schemas": [PATCH_OP], "Operations": operations})
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_rfc_body() {
        let patch = PatchOp::new()
            .replace(AttrPath::with_sub("name", "givenName"), json!("Jo"))
            .remove(AttrPath::new("title"))
            .add_members(["u1", "u2"])
            .remove_member("u\"3");
        assert_eq!(
            patch.to_json(),
            json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "replace", "path": "name.givenName", "value": "Jo"},
                {"op": "remove", "path": "title"},
                {"op": "add", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}]},
                {"op": "remove", "path": "members[value eq \"u\\\"3\"]"}
            ]})
        );
        assert!(PatchOp::new().add_members([]).is_empty());
    }

    #[test]
    fn member_changes_are_chunked() {
        let ids: Vec<String> = (0..250).map(|i| format!("u{i}")).collect();
        let mut patch = PatchOp::new().replace(AttrPath::new("displayName"), json!("G"));
        patch = patch.add_members(ids.iter().map(String::as_str));
        for id in &ids[..60] {
            patch = patch.remove_member(id);
        }
        let chunks = patch.chunked(100);
        let count = |p: &PatchOp| -> usize { p.operations.iter().map(Operation::member_changes).sum() };
        assert_eq!(chunks.len(), 4);
        assert!(chunks.iter().all(|c| count(c) <= 100));
        assert_eq!(chunks.iter().map(count).sum::<usize>(), 310);
        assert!(matches!(chunks[0].operations[0], Operation::Replace(..)));
        assert_eq!(PatchOp::new().replace(AttrPath::new("a"), json!(1)).chunked(0).len(), 1);
    }
}
