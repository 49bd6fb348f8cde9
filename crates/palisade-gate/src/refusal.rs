//! What a caller gets when a stage says no: one typed refusal per kind, each with its
//! status, a short audit reason, and a message that names the problem but never echoes a
//! credential or a payload.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

/// Longest error message sent to a caller.
const MAX_MESSAGE_BYTES: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A 401: `reason` goes to the audit log only. Every client on a listener sees the same
    /// message; it offers a client certificate only where the listener takes one.
    #[error("authentication required: present a valid API key or token as `Authorization: Bearer ...`{}", if *.certificate_accepted { ", or a client certificate" } else { "" })]
    Unauthenticated {
        reason: &'static str,
        token_presented: bool,
        certificate_accepted: bool,
    },
    #[error("{0}")]
    Forbidden(String),
    /// 403 with `Retry-After`: blocked for a while by `[detect] auto_block`.
    #[error("temporarily blocked after a security alert; retry in {} s, or ask an operator", retry_secs(*.0))]
    Blocked(std::time::Duration),
    /// 404; `hidden` marks a model the caller may not know about (audit only).
    #[error("{message}")]
    NotFound { message: String, hidden: bool },
    #[error("method not allowed; this route accepts {allow}")]
    MethodNotAllowed { allow: &'static str },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    /// 422: well-formed, but not acceptable (an invalid policy set).
    #[error("{0}")]
    Unprocessable(String),
    /// 422: a model version the supply-chain checks refused at load (signature, sealing,
    /// scanner, digest); `reason` names the check in the audit log.
    #[error("{message}")]
    ModelRefused {
        reason: &'static str,
        message: String,
    },
    /// 422: the model computed NaN or an infinity for this input (usually an input far
    /// outside what it was trained on); never served as a number or as `null`.
    #[error("model '{model}' computed a non-finite value (NaN or infinity) in output '{output}' for this input; check that the inputs are within the range the model was trained on")]
    NonFiniteOutput { model: String, output: String },
    /// 429 from the `limit` stage.
    #[error(
        "limit '{}' reached ({} calls per {} s); retry in {} s",
        .0.policy.as_str(), .0.quota, .0.window_secs, retry_secs(.0.retry_after)
    )]
    TooManyRequests(Exceeded),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("request timed out after {0:?}")]
    Timeout(std::time::Duration),
    #[error("{0}")]
    Unavailable(String),
    /// 503 with `Retry-After`: the inference pool's bounds (`[models.pool]`).
    #[error("{}", busy_message(*.which, .model, *.retry_after))]
    Busy {
        which: Busy,
        model: String,
        retry_after: std::time::Duration,
    },
    /// 503: the shared limit backend is unreachable and `on_backend_error = "deny"`.
    #[error("the shared {0} limit backend is unavailable; retry shortly")]
    LimitBackendUnavailable(&'static str),
    /// 500: details go to the server log, the client gets a generic message.
    #[error("internal error; the server log has details under this request's id")]
    Internal(String),
}

fn busy_message(which: Busy, model: &str, retry: std::time::Duration) -> String {
    let model = printable(model);
    match which {
        Busy::Pool => format!(
            "the inference pool is full (models.pool.queue calls already wait for a thread); retry in {} s",
            retry_secs(retry)
        ),
        Busy::Model => format!(
            "model '{model}' is busy (models.pool.per_model of its calls are already running or waiting); retry in {} s",
            retry_secs(retry)
        ),
    }
}

/// Which limit a refused call met. Its name is the `RateLimit-Policy` header's and part of
/// shared counter keys: a stable interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitPolicy {
    Global,
    PerPrincipal,
    PerModel,
    PerPrincipalModel,
    Concurrency,
    /// A budget whose counters could not be read (fails closed).
    Budget,
    DailyBudget,
    MonthlyBudget,
    FailedAuthentication,
    /// Requests with no credential, per source address.
    Anonymous,
}

impl LimitPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitPolicy::Global => "global",
            LimitPolicy::PerPrincipal => "per_principal",
            LimitPolicy::PerModel => "per_model",
            LimitPolicy::PerPrincipalModel => "per_principal_model",
            LimitPolicy::Concurrency => "concurrency",
            LimitPolicy::Budget => "budget",
            LimitPolicy::DailyBudget => "daily_budget",
            LimitPolicy::MonthlyBudget => "monthly_budget",
            LimitPolicy::FailedAuthentication => "failed_authentication",
            LimitPolicy::Anonymous => "anonymous",
        }
    }

    fn is_budget(self) -> bool {
        matches!(
            self,
            LimitPolicy::Budget | LimitPolicy::DailyBudget | LimitPolicy::MonthlyBudget
        )
    }
}

/// Which limit refused a call, and when to come back (the `limit` stage's refusal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceeded {
    pub policy: LimitPolicy,
    /// Calls allowed per window.
    pub quota: u64,
    pub window_secs: u64,
    pub retry_after: std::time::Duration,
}

/// Which bound of the inference pool (`[models.pool]`, see `pool.rs`) a refused call met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// `queue` calls already wait for a thread.
    Pool,
    /// `per_model` calls of this model are already on the pool.
    Model,
}

impl Busy {
    pub fn reason(self) -> &'static str {
        match self {
            Busy::Pool => "pool_busy",
            Busy::Model => "model_busy",
        }
    }
}

impl Refusal {
    /// A 429 of the brute-force back-off (it feeds the detectors' failed-authentication count).
    pub fn is_auth_blocked(&self) -> bool {
        matches!(self, Refusal::TooManyRequests(e) if e.policy == LimitPolicy::FailedAuthentication)
    }

    pub fn not_found_model(name: &str, hidden: bool) -> Refusal {
        // Identical text whether the model is missing or hidden from this caller.
        Refusal::NotFound {
            message: format!("model '{}' not found", printable(name)),
            hidden,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            Refusal::Forbidden(_) | Refusal::Blocked(_) => StatusCode::FORBIDDEN,
            Refusal::NotFound { .. } => StatusCode::NOT_FOUND,
            Refusal::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Refusal::BadRequest(_) => StatusCode::BAD_REQUEST,
            Refusal::Conflict(_) => StatusCode::CONFLICT,
            Refusal::Unprocessable(_)
            | Refusal::ModelRefused { .. }
            | Refusal::NonFiniteOutput { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Refusal::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Refusal::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Refusal::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            Refusal::Unavailable(_)
            | Refusal::LimitBackendUnavailable(_)
            | Refusal::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Short reason recorded in the audit event.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Unauthenticated { reason, .. } => reason,
            Refusal::Forbidden(_) => "forbidden",
            Refusal::Blocked(_) => "blocked",
            Refusal::NotFound { hidden: true, .. } => "hidden",
            Refusal::NotFound { hidden: false, .. } => "not_found",
            Refusal::MethodNotAllowed { .. } => "method_not_allowed",
            Refusal::BadRequest(_) => "bad_request",
            Refusal::Conflict(_) => "conflict",
            Refusal::Unprocessable(_) => "unprocessable",
            Refusal::ModelRefused { reason, .. } => reason,
            Refusal::NonFiniteOutput { .. } => "non_finite_output",
            Refusal::TooManyRequests(e) => match e.policy {
                p if p.is_budget() => "budget_exhausted",
                LimitPolicy::FailedAuthentication => "auth_blocked",
                LimitPolicy::Anonymous => "anonymous_limited",
                _ => "rate_limited",
            },
            Refusal::TooLarge(_) => "too_large",
            Refusal::UnsupportedMediaType(_) => "unsupported_media_type",
            Refusal::Timeout(_) => "timeout",
            Refusal::Unavailable(_) => "unavailable",
            Refusal::Busy { which, .. } => which.reason(),
            Refusal::LimitBackendUnavailable(_) => "limit_backend_unavailable",
            Refusal::Internal(_) => "internal_error",
        }
    }

    pub fn into_response(self) -> Response<Bytes> {
        // Messages can quote caller input; personal data in it is not sent back or logged.
        let mut message = palisade_pii::scrub_for_logs(&self.to_string());
        if message.len() > MAX_MESSAGE_BYTES {
            // Parser messages can quote caller input (an unknown field name): keep them short.
            let cut = (0..=MAX_MESSAGE_BYTES)
                .rev()
                .find(|&i| message.is_char_boundary(i))
                .unwrap_or(0);
            message.truncate(cut);
            message.push('…');
        }
        let mut response = json_response(self.status(), &serde_json::json!({ "error": message }));
        let headers = response.headers_mut();
        match &self {
            Refusal::Unauthenticated {
                token_presented, ..
            } => {
                let value = if *token_presented {
                    "Bearer realm=\"palisade\", error=\"invalid_token\""
                } else {
                    "Bearer realm=\"palisade\""
                };
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(value));
            }
            Refusal::MethodNotAllowed { allow } => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            Refusal::TooManyRequests(e) => {
                let secs = retry_secs(e.retry_after);
                headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
                let name = e.policy.as_str();
                let policy = format!("\"{name}\";q={};w={}", e.quota, e.window_secs);
                let state = format!("\"{name}\";r=0;t={secs}");
                for (name, value) in [("ratelimit-policy", policy), ("ratelimit", state)] {
                    if let Ok(v) = HeaderValue::from_str(&value) {
                        headers.insert(name, v);
                    }
                }
            }
            Refusal::Blocked(left)
            | Refusal::Busy {
                retry_after: left, ..
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_secs(*left)));
            }
            Refusal::Unavailable(_) | Refusal::LimitBackendUnavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Refusal::TooLarge(_) | Refusal::Timeout(_) => {
                // The rest of the body may still be in flight: do not reuse this connection.
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}

/// Whole seconds to wait, rounded up (never 0: "retry now" would invite a hammering loop).
fn retry_secs(d: std::time::Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0).max(u64::from(d.is_zero()))
}

/// A JSON response with the headers every Palisade response carries.
pub fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<Bytes> {
    bytes_response(status, "application/json", Bytes::from(value.to_string()))
}

pub fn bytes_response(
    status: StatusCode,
    content_type: &'static str,
    body: Bytes,
) -> Response<Bytes> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Caller-supplied text as it may appear in an error: bounded, control characters removed.
pub fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(128).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_and_challenges_set() {
        let r =
            Refusal::BadRequest(format!("unknown field `{}`", "é".repeat(5000))).into_response();
        assert!(r.body().len() < MAX_MESSAGE_BYTES + 64);
        assert!(std::str::from_utf8(r.body()).is_ok());
        let r = Refusal::Unauthenticated {
            reason: "x",
            token_presented: true,
            certificate_accepted: false,
        }
        .into_response();
        assert!(!String::from_utf8_lossy(r.body()).contains("certificate"));
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("invalid_token"));
    }
}
