//! Limiter counters shared by every replica, in Redis: GCRA rate state and query budgets.
//!
//! One Lua script per call checks every configured limit and, only if all admit the call,
//! records it, so the check-and-spend is atomic across replicas: a budget of N admits exactly
//! N calls however many replicas serve them. The script reads Redis' own clock (`TIME`), so
//! replicas with skewed clocks still share one rate. All keys of one call are on one Redis;
//! with Redis Cluster, keep them in one slot (not supported yet).
//!
//! Whether the backend answers is the caller's problem (`limit.rs` applies
//! `on_backend_error`); this module only reports failures, bounded by a timeout.

use std::time::Duration;

use palisade_config::rates::Rate;
use redis::aio::ConnectionManager;
use redis::{Client, Script};

/// GCRA per key, then budget counters; all or nothing. See the module docs.
const SCRIPT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n_rates = tonumber(ARGV[1])
local n_budgets = tonumber(ARGV[2])
local new_tat = {}
for i = 1, n_rates do
  local interval = tonumber(ARGV[2 + 2 * i - 1])
  local tolerance = tonumber(ARGV[2 + 2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat < now then tat = now end
  if tat - now > tolerance then
    return {0, i, math.ceil((tat - now - tolerance) / 1000)}
  end
  new_tat[i] = tat + interval
end
local base = 2 + 2 * n_rates
for j = 1, n_budgets do
  local limit = tonumber(ARGV[base + 2 * j - 1])
  local used = tonumber(redis.call('GET', KEYS[n_rates + j]) or '0')
  if used >= limit then return {0, n_rates + j, 0} end
end
for i = 1, n_rates do
  local ttl = math.ceil((new_tat[i] - now) / 1000) + 1000
  redis.call('SET', KEYS[i], string.format('%.0f', new_tat[i]), 'PX', ttl)
end
for j = 1, n_budgets do
  local v = redis.call('INCR', KEYS[n_rates + j])
  if v == 1 then redis.call('EXPIRE', KEYS[n_rates + j], tonumber(ARGV[base + 2 * j])) end
end
return {1}
"#;

/// One rate to check: its limiter name, the key it counts under, the rate.
pub struct RateCheck {
    pub key: String,
    pub rate: Rate,
    pub name: crate::refusal::LimitPolicy,
}

/// One budget to check and spend: counter key, limit, seconds the counter lives.
pub struct BudgetCheck {
    pub key: String,
    pub limit: u64,
    pub ttl_secs: u64,
    pub name: crate::refusal::LimitPolicy,
}

/// What the shared counters said.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Admitted,
    /// Refused by rate `i`, retry after the given wait.
    RateExceeded(usize, Duration),
    /// Refused by budget `i`.
    BudgetSpent(usize),
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("limit backend: {0}")]
    Redis(String),
    #[error("limit backend did not answer within {0:?}")]
    Timeout(Duration),
}

pub struct SharedCounters {
    connection: ConnectionManager,
    script: Script,
    timeout: Duration,
    prefix: String,
}

impl SharedCounters {
    /// Connects lazily and reconnects by itself: an unreachable Redis at start is not fatal
    /// (the fallback applies until it answers).
    pub fn new(
        url: &str,
        password: Option<String>,
        timeout: Duration,
        prefix: &str,
    ) -> Result<SharedCounters, BackendError> {
        use redis::IntoConnectionInfo;
        let mut info = url
            .into_connection_info()
            .map_err(|e| BackendError::Redis(e.to_string()))?;
        if let Some(password) = password {
            let settings = info.redis_settings().clone().set_password(password);
            info = info.set_redis_settings(settings);
        }
        let client = Client::open(info).map_err(|e| BackendError::Redis(e.to_string()))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| BackendError::Redis(e.to_string()))?;
        Ok(SharedCounters {
            connection,
            script: Script::new(SCRIPT),
            timeout,
            prefix: prefix.to_string(),
        })
    }

    /// The key a counter lives under: `<prefix>:<kind>:<parts joined by ':'>`.
    pub fn key(&self, kind: &str, parts: &[&str]) -> String {
        let mut key = format!("{}:{kind}", self.prefix);
        for p in parts {
            key.push(':');
            key.push_str(p);
        }
        key
    }

    /// Check every limit and, if all admit, record the call; atomically.
    pub async fn check(
        &self,
        rates: &[RateCheck],
        budgets: &[BudgetCheck],
    ) -> Result<Verdict, BackendError> {
        let mut invocation = self.script.prepare_invoke();
        invocation.arg(rates.len()).arg(budgets.len());
        for r in rates {
            let interval = r.rate.period.as_micros() as f64 / f64::from(r.rate.count.max(1));
            let tolerance = interval * f64::from(r.rate.count.saturating_sub(1));
            invocation.key(&r.key).arg(interval).arg(tolerance);
        }
        for b in budgets {
            invocation.key(&b.key).arg(b.limit).arg(b.ttl_secs);
        }
        let mut connection = self.connection.clone();
        let answer: Vec<i64> = match tokio::time::timeout(
            self.timeout,
            invocation.invoke_async(&mut connection),
        )
        .await
        {
            Err(_) => return Err(BackendError::Timeout(self.timeout)),
            Ok(Err(e)) => return Err(BackendError::Redis(e.to_string())),
            Ok(Ok(v)) => v,
        };
        match answer.as_slice() {
            [1] => Ok(Verdict::Admitted),
            [0, i, wait_ms] if (1..=rates.len() as i64).contains(i) => Ok(Verdict::RateExceeded(
                (*i - 1) as usize,
                Duration::from_millis((*wait_ms).max(1) as u64),
            )),
            [0, i, _] if *i > rates.len() as i64 && *i <= (rates.len() + budgets.len()) as i64 => {
                Ok(Verdict::BudgetSpent(*i as usize - rates.len() - 1))
            }
            other => Err(BackendError::Redis(format!(
                "unexpected script answer {other:?}"
            ))),
        }
    }
}
