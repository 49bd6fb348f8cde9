//! Admin plane: the audit log's signed checkpoint, proofs and entries (action `read_audit`).
//!
//! Proofs are only made against signed checkpoint sizes, so whatever this hands out can be
//! checked offline with the verifier key alone (`palisade audit check-proof`).

use std::sync::Arc;

use http::StatusCode;
use palisade_audit::{Filter, LogReader, ReadError};
use serde::Deserialize;
use serde_json::json;

use crate::refusal::{json_response, Refusal};
use crate::respond::Reply;
use crate::routes::AdminOp;
use crate::state::State;

/// Most entries one `GET /admin/audit/entries` returns.
const MAX_ENTRIES: usize = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InclusionQuery {
    index: u64,
    size: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsistencyQuery {
    from: u64,
    to: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntriesQuery {
    from: Option<u64>,
    limit: Option<usize>,
    since: Option<String>,
    until: Option<String>,
    principal: Option<String>,
    model: Option<String>,
    decision: Option<String>,
    status: Option<u16>,
}

fn query<'a, T: Deserialize<'a>>(raw: Option<&'a str>) -> Result<T, Refusal> {
    serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| Refusal::BadRequest(format!("query string: {e}")))
}

pub async fn handle(
    state: &Arc<State>,
    op: AdminOp,
    raw_query: Option<String>,
) -> Result<Reply, Refusal> {
    let state = state.clone();
    // Proofs and scans read files: keep them off the async workers.
    tokio::task::spawn_blocking(move || answer(&state, op, raw_query.as_deref()))
        .await
        .map_err(|e| Refusal::Internal(format!("audit reader task: {e}")))?
}

fn answer(state: &State, op: AdminOp, raw: Option<&str>) -> Result<Reply, Refusal> {
    let reader = || state.audit.reader().map_err(refusal);
    let body = match op {
        AdminOp::AuditCheckpoint => {
            let cp = state
                .audit
                .latest_checkpoint()
                .ok_or_else(|| Refusal::Unavailable("no checkpoint signed yet".into()))?;
            json!({
                "size": cp.size,
                "root": hex::encode(cp.root),
                "checkpoint": cp.note,
                "verifier_key": state.audit.verifier_key(),
            })
        }
        AdminOp::AuditInclusion => {
            let q: InclusionQuery = query(raw)?;
            let proof = reader()?
                .prove_inclusion(q.index, q.size)
                .map_err(refusal)?;
            serde_json::to_value(proof).map_err(|e| Refusal::Internal(e.to_string()))?
        }
        AdminOp::AuditConsistency => {
            let q: ConsistencyQuery = query(raw)?;
            let proof = reader()?.prove_consistency(q.from, q.to).map_err(refusal)?;
            serde_json::to_value(proof).map_err(|e| Refusal::Internal(e.to_string()))?
        }
        AdminOp::AuditEntries => {
            let q: EntriesQuery = query(raw)?;
            let limit = q.limit.unwrap_or(100).min(MAX_ENTRIES);
            let now = time::OffsetDateTime::now_utc();
            let bound = |field, t: Option<String>| {
                t.map(|t| palisade_audit::time_bound(field, &t, now))
                    .transpose()
                    .map_err(|e| Refusal::BadRequest(e.to_string()))
            };
            let filter = Filter {
                since: bound("since", q.since)?,
                until: bound("until", q.until)?,
                principal: q.principal,
                model: q.model,
                decision: q.decision,
                status: q.status,
            };
            let reader: LogReader = reader()?;
            let mut entries = Vec::new();
            let mut next = None;
            reader
                .scan(q.from.unwrap_or(0), None, false, |index, line| {
                    if !filter.matches(line) {
                        return true;
                    }
                    if entries.len() == limit {
                        next = Some(index);
                        return false;
                    }
                    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) {
                        entries.push(v);
                    }
                    true
                })
                .map_err(refusal)?;
            json!({ "entries": entries, "next": next, "signed_size": reader.size() })
        }
        _ => return Err(Refusal::Internal("not an audit operation".into())),
    };
    Ok(json_response(StatusCode::OK, &body))
}

fn refusal(e: ReadError) -> Refusal {
    match e {
        ReadError::Request(m) => Refusal::BadRequest(m),
        ReadError::Io { .. } => {
            tracing::error!(error = %e, "audit log read failed");
            Refusal::Internal("the audit log could not be read; see the server log".into())
        }
    }
}
