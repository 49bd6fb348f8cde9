//! `[rate_limits]`: how fast and how much each caller may query. Rates are GCRA quotas
//! ("100/s": 100 calls per second, bursts up to 100); budgets are calls per calendar day or
//! month per (principal, model), the brake on model extraction by bulk querying.

use std::time::Duration;

use serde::Deserialize;

use crate::Finding;

/// `count` calls per `period`, with bursts up to `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub period: Duration,
}

impl Rate {
    pub fn parse(key: &str, text: &str) -> Result<Rate, Finding> {
        let bad = || {
            Finding::error(
                key,
                format!("'{text}' is not a rate; write it like \"100/s\", \"600/m\", \"5000/h\" or \"20000/d\""),
            )
        };
        let (count, unit) = text.split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let period = match unit.trim() {
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            "d" => Duration::from_secs(86400),
            _ => return Err(bad()),
        };
        if count == 0 {
            return Err(Finding::error(
                key,
                "a rate of 0 refuses every call; remove the key to set no limit".into(),
            ));
        }
        Ok(Rate { count, period })
    }

    /// The text form, as given in the config and in `RateLimit-Policy` windows.
    pub fn window_secs(&self) -> u64 {
        self.period.as_secs()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimits {
    pub global: Option<Rate>,
    pub per_principal: Option<Rate>,
    pub per_model: Option<Rate>,
    pub per_principal_model: Option<Rate>,
    pub max_concurrent_per_principal: Option<u32>,
    pub daily_budget_per_principal_model: Option<u64>,
    pub monthly_budget_per_principal_model: Option<u64>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRateLimits {
    global: Option<String>,
    per_principal: Option<String>,
    per_model: Option<String>,
    per_principal_model: Option<String>,
    max_concurrent_per_principal: Option<u32>,
    daily_budget_per_principal_model: Option<u64>,
    monthly_budget_per_principal_model: Option<u64>,
}

impl RawRateLimits {
    pub(crate) fn validate(self) -> Result<RateLimits, Finding> {
        let rate = |key: &str, v: Option<String>| {
            v.map(|t| Rate::parse(&format!("rate_limits.{key}"), &t))
                .transpose()
        };
        let positive = |key: &str, v: Option<u64>| match v {
            Some(0) => Err(Finding::error(
                &format!("rate_limits.{key}"),
                "0 refuses every call; remove the key to set no limit".into(),
            )),
            other => Ok(other),
        };
        Ok(RateLimits {
            global: rate("global", self.global)?,
            per_principal: rate("per_principal", self.per_principal)?,
            per_model: rate("per_model", self.per_model)?,
            per_principal_model: rate("per_principal_model", self.per_principal_model)?,
            max_concurrent_per_principal: positive(
                "max_concurrent_per_principal",
                self.max_concurrent_per_principal.map(u64::from),
            )?
            .map(|n| n as u32),
            daily_budget_per_principal_model: positive(
                "daily_budget_per_principal_model",
                self.daily_budget_per_principal_model,
            )?,
            monthly_budget_per_principal_model: positive(
                "monthly_budget_per_principal_model",
                self.monthly_budget_per_principal_model,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_explain_mistakes() {
        assert_eq!(
            Rate::parse("k", "100/s").unwrap(),
            Rate {
                count: 100,
                period: Duration::from_secs(1)
            }
        );
        assert_eq!(Rate::parse("k", "5/d").unwrap().window_secs(), 86400);
        for bad in ["100", "x/s", "10/w", "0/s", "-1/s"] {
            let e = Rate::parse("rate_limits.global", bad).unwrap_err();
            assert_eq!(e.key, "rate_limits.global", "{bad}");
        }
    }
}

/// Where limiter counters live: in this process, or in Redis shared by every replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitsBackend {
    Local,
    Redis {
        /// `redis://host:port/db`; a password is never written here (see `password_file`).
        url: String,
        password_file: Option<std::path::PathBuf>,
        /// Longest wait for one Redis round trip before `on_backend_error` decides.
        timeout: Duration,
        /// Prefix of every key, so that deployments can share one Redis.
        key_prefix: String,
    },
}

/// What a limit does while its shared backend is unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnBackendError {
    /// Refuse the call (503): no budget is ever overspent.
    Deny,
    /// Fall back to this replica's own counters.
    Local,
}

impl OnBackendError {
    pub fn parse(key: &str, text: &str) -> Result<OnBackendError, Finding> {
        match text {
            "deny" => Ok(OnBackendError::Deny),
            "local" => Ok(OnBackendError::Local),
            other => Err(Finding::error(
                key,
                format!("'{other}' is neither \"deny\" nor \"local\""),
            )),
        }
    }
}

/// `[limits]` keys about the shared backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub kind: LimitsBackend,
    pub on_error_rates: OnBackendError,
    pub on_error_budgets: OnBackendError,
}

impl Default for Backend {
    fn default() -> Self {
        Backend {
            kind: LimitsBackend::Local,
            on_error_rates: OnBackendError::Local,
            on_error_budgets: OnBackendError::Deny,
        }
    }
}

/// `on_backend_error = "deny"` for both, or `{ rates = "local", budgets = "deny" }`.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum RawOnBackendError {
    Both(String),
    Each {
        rates: Option<String>,
        budgets: Option<String>,
    },
}
