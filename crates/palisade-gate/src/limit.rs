//! Stage `limit`: rates (GCRA, via `governor`), per-principal concurrency caps, and daily /
//! monthly query budgets per (principal, model) — the brake on extracting a model by bulk
//! querying. Refusals are 429 with `Retry-After`, `RateLimit` and `RateLimit-Policy`.
//!
//! Counters live in this process (`governor`), or, with `[limits] backend = "redis"`, in
//! Redis shared by every replica (`shared_limits`). When Redis does not answer,
//! `on_backend_error` decides per kind of limit: `local` falls back to this process'
//! counters, `deny` refuses (503). Defaults: rates fall back, budgets deny (a budget is a
//! promise about the total; a rate only protects capacity). Concurrency caps are always per
//! replica: they protect the replica's own workers.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota};
use palisade_config::rates::{Backend, LimitsBackend, OnBackendError, Rate, RateLimits};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::context::{Call, LimitOutcome};
use crate::metrics::BackendLabels;
use crate::refusal::Refusal;
use crate::shared_limits::{BudgetCheck, RateCheck, SharedCounters, Verdict};
use palisade_access::keys::now_secs;

pub use crate::refusal::{Exceeded, LimitPolicy};

pub struct Limiter {
    config: RateLimits,
    clock: DefaultClock,
    global: Option<DefaultDirectRateLimiter>,
    per_principal: Option<DefaultKeyedRateLimiter<String>>,
    per_model: Option<DefaultKeyedRateLimiter<String>>,
    per_principal_model: Option<DefaultKeyedRateLimiter<(String, String)>>,
    concurrency: Mutex<HashMap<String, Arc<Semaphore>>>,
    budgets: Mutex<HashMap<(String, String), Spent>>,
    shared: Option<SharedCounters>,
    backend: Backend,
    backend_errors: Family<BackendLabels, Counter>,
    /// Unix second of the last "backend unavailable" log line (one per second at most).
    last_backend_log: AtomicU64,
}

/// Calls counted against the current day and month.
#[derive(Debug, Default, Clone, Copy)]
struct Spent {
    day: u64,
    in_day: u64,
    month: u64,
    in_month: u64,
}

/// Held for the length of an admitted call (releases the concurrency slot on drop).
pub struct Admitted {
    _slot: Option<OwnedSemaphorePermit>,
}

pub(crate) fn quota(rate: Rate) -> Quota {
    let burst = NonZeroU32::new(rate.count).unwrap_or(NonZeroU32::MIN);
    let per_call = rate.period / rate.count.max(1);
    Quota::with_period(per_call.max(Duration::from_nanos(1)))
        .unwrap_or_else(|| Quota::per_second(burst))
        .allow_burst(burst)
}

impl Limiter {
    /// A limiter with process-local counters only.
    pub fn new(config: &RateLimits) -> Limiter {
        Limiter {
            shared: None,
            backend: Backend::default(),
            backend_errors: Family::default(),
            last_backend_log: AtomicU64::new(0),
            clock: DefaultClock::default(),
            global: config
                .global
                .map(|r| DefaultDirectRateLimiter::direct(quota(r))),
            per_principal: config
                .per_principal
                .map(|r| DefaultKeyedRateLimiter::keyed(quota(r))),
            per_model: config
                .per_model
                .map(|r| DefaultKeyedRateLimiter::keyed(quota(r))),
            per_principal_model: config
                .per_principal_model
                .map(|r| DefaultKeyedRateLimiter::keyed(quota(r))),
            concurrency: Mutex::new(HashMap::new()),
            budgets: Mutex::new(HashMap::new()),
            config: config.clone(),
        }
    }

    /// A limiter whose rates and budgets live where `backend` says; failures of a shared
    /// backend are counted in `backend_errors`.
    pub fn with_backend(
        config: &RateLimits,
        backend: &Backend,
        backend_errors: Family<BackendLabels, Counter>,
    ) -> Result<Limiter, String> {
        let mut limiter = Limiter::new(config);
        if let LimitsBackend::Redis {
            url,
            password_file,
            timeout,
            key_prefix,
        } = &backend.kind
        {
            let password = match password_file {
                None => None,
                Some(path) => {
                    let bytes = palisade_files::read_limited(path, 4096).map_err(|e| {
                        format!("limits.redis_password_file {}: {e}", path.display())
                    })?;
                    let text = String::from_utf8(bytes).map_err(|_| {
                        format!("limits.redis_password_file {}: not UTF-8", path.display())
                    })?;
                    Some(text.trim_end_matches(['\n', '\r']).to_string())
                }
            };
            limiter.shared = Some(
                SharedCounters::new(url, password, *timeout, key_prefix)
                    .map_err(|e| format!("limits.redis_url: {e}"))?,
            );
        }
        limiter.backend = backend.clone();
        limiter.backend_errors = backend_errors;
        Ok(limiter)
    }

    /// The stage: admit `call` on `model` (its principal's limits), noting the decision on
    /// the call. The concurrency slot is held until the returned value is dropped.
    pub async fn admit_call(
        &self,
        call: &mut Call,
        model: &str,
        counts_budget: bool,
    ) -> Result<Admitted, Refusal> {
        let principal = call.principal.as_ref().map_or("", |p| p.id.as_str());
        let admitted = self
            .admit_at(principal, model, counts_budget, call.unix_secs())
            .await;
        call.limit = Some(LimitOutcome::of(&admitted));
        admitted
    }

    /// [`Limiter::admit_at`] now. Tests only: the gate admits through
    /// [`Limiter::admit_call`], on the call's clock.
    #[cfg(test)]
    pub async fn admit(
        &self,
        principal: &str,
        model: &str,
        counts_budget: bool,
    ) -> Result<Admitted, Refusal> {
        self.admit_at(principal, model, counts_budget, now_secs())
            .await
    }

    /// Admit one call of `principal` on `model` at `now` (Unix seconds, what the day and month
    /// budgets are counted in), or say which limit it hit. `counts_budget`: inference calls
    /// spend the query budget; metadata calls do not.
    pub async fn admit_at(
        &self,
        principal: &str,
        model: &str,
        counts_budget: bool,
        now: u64,
    ) -> Result<Admitted, Refusal> {
        let slot = self.take_slot(principal)?;
        let Some(shared) = &self.shared else {
            self.local_rates(principal, model)?;
            if counts_budget {
                self.spend(principal, model, now)?;
            }
            return Ok(Admitted { _slot: slot });
        };
        let rates = self.rate_checks(shared, principal, model);
        let budgets = if counts_budget {
            self.budget_checks(shared, principal, model, now)
        } else {
            Vec::new()
        };
        if rates.is_empty() && budgets.is_empty() {
            return Ok(Admitted { _slot: slot });
        }
        // Boxed: the Redis round trip's future stays out of the local-only call path.
        match Box::pin(shared.check(&rates, &budgets)).await {
            Ok(Verdict::Admitted) => {}
            Ok(Verdict::RateExceeded(i, wait)) => {
                let r = &rates[i];
                return Err(Exceeded {
                    policy: r.name,
                    quota: u64::from(r.rate.count),
                    window_secs: r.rate.window_secs(),
                    retry_after: wait,
                }
                .into());
            }
            Ok(Verdict::BudgetSpent(i)) => {
                return Err(self.budget_exceeded(budgets[i].name, now).into());
            }
            Err(e) => {
                self.log_backend_error(&e);
                if !rates.is_empty() {
                    self.fallback("rates", self.backend.on_error_rates)?;
                    self.local_rates(principal, model)?;
                }
                if !budgets.is_empty() {
                    self.fallback("budgets", self.backend.on_error_budgets)?;
                    self.spend(principal, model, now)?;
                }
            }
        }
        Ok(Admitted { _slot: slot })
    }

    fn fallback(&self, limit: &'static str, on_error: OnBackendError) -> Result<(), Refusal> {
        let fallback = match on_error {
            OnBackendError::Deny => "deny",
            OnBackendError::Local => "local",
        };
        self.backend_errors
            .get_or_create(&BackendLabels { limit, fallback })
            .inc();
        match on_error {
            OnBackendError::Local => Ok(()),
            OnBackendError::Deny => Err(Refusal::LimitBackendUnavailable(limit)),
        }
    }

    fn log_backend_error(&self, e: &crate::shared_limits::BackendError) {
        let now = now_secs();
        if self.last_backend_log.swap(now, Ordering::Relaxed) != now {
            tracing::warn!(error = %e, on_error_rates = ?self.backend.on_error_rates, on_error_budgets = ?self.backend.on_error_budgets, "limit backend unavailable; applying on_backend_error");
        }
    }

    fn rate_checks(&self, shared: &SharedCounters, principal: &str, model: &str) -> Vec<RateCheck> {
        let c = &self.config;
        // Model names hold no ':', so `model:principal` splits one way only.
        [
            (
                LimitPolicy::PerPrincipalModel,
                c.per_principal_model,
                vec![model, principal],
            ),
            (LimitPolicy::PerPrincipal, c.per_principal, vec![principal]),
            (LimitPolicy::PerModel, c.per_model, vec![model]),
            (LimitPolicy::Global, c.global, vec![]),
        ]
        .into_iter()
        .filter_map(|(name, rate, parts)| {
            rate.map(|rate| RateCheck {
                key: shared.key(&format!("rate:{}", name.as_str()), &parts),
                rate,
                name,
            })
        })
        .collect()
    }

    fn budget_checks(
        &self,
        shared: &SharedCounters,
        principal: &str,
        model: &str,
        now: u64,
    ) -> Vec<BudgetCheck> {
        let day = now / 86400;
        let month = month_index(day);
        let mut out = Vec::new();
        if let Some(limit) = self.config.daily_budget_per_principal_model {
            out.push(BudgetCheck {
                key: shared.key("budget:day", &[&day.to_string(), model, principal]),
                limit,
                ttl_secs: 2 * 86400,
                name: LimitPolicy::DailyBudget,
            });
        }
        if let Some(limit) = self.config.monthly_budget_per_principal_model {
            out.push(BudgetCheck {
                key: shared.key("budget:month", &[&month.to_string(), model, principal]),
                limit,
                ttl_secs: 32 * 86400,
                name: LimitPolicy::MonthlyBudget,
            });
        }
        out
    }

    /// The refusal of a spent budget (`daily_budget` or `monthly_budget`): retry when the
    /// calendar day or month (UTC) turns.
    fn budget_exceeded(&self, policy: LimitPolicy, now: u64) -> Exceeded {
        let day = now / 86400;
        let (quota, window_secs, resets_at) = if policy == LimitPolicy::DailyBudget {
            let quota = self.config.daily_budget_per_principal_model.unwrap_or(0);
            (quota, 86400, (day + 1) * 86400)
        } else {
            let quota = self.config.monthly_budget_per_principal_model.unwrap_or(0);
            let next_month = first_day_of_month_index(month_index(day) + 1) * 86400;
            (quota, 30 * 86400, next_month)
        };
        Exceeded {
            policy,
            quota,
            window_secs,
            retry_after: Duration::from_secs(resets_at.saturating_sub(now).max(1)),
        }
    }

    fn local_rates(&self, principal: &str, model: &str) -> Result<(), Exceeded> {
        let now = self.clock.now();
        let refused = |policy, rate: Rate, wait: Duration| Exceeded {
            policy,
            quota: u64::from(rate.count),
            window_secs: rate.window_secs(),
            retry_after: wait,
        };
        if let (Some(l), Some(r)) = (&self.per_principal_model, self.config.per_principal_model) {
            l.check_key(&(principal.to_string(), model.to_string()))
                .map_err(|n| refused(LimitPolicy::PerPrincipalModel, r, n.wait_time_from(now)))?;
        }
        if let (Some(l), Some(r)) = (&self.per_principal, self.config.per_principal) {
            l.check_key(&principal.to_string())
                .map_err(|n| refused(LimitPolicy::PerPrincipal, r, n.wait_time_from(now)))?;
        }
        if let (Some(l), Some(r)) = (&self.per_model, self.config.per_model) {
            l.check_key(&model.to_string())
                .map_err(|n| refused(LimitPolicy::PerModel, r, n.wait_time_from(now)))?;
        }
        if let (Some(l), Some(r)) = (&self.global, self.config.global) {
            l.check()
                .map_err(|n| refused(LimitPolicy::Global, r, n.wait_time_from(now)))?;
        }
        Ok(())
    }

    fn take_slot(&self, principal: &str) -> Result<Option<OwnedSemaphorePermit>, Exceeded> {
        let Some(max) = self.config.max_concurrent_per_principal else {
            return Ok(None);
        };
        let semaphore = match self.concurrency.lock() {
            Ok(mut map) => map
                .entry(principal.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(max as usize)))
                .clone(),
            Err(_) => return Ok(None),
        };
        semaphore
            .try_acquire_owned()
            .map(Some)
            .map_err(|_| Exceeded {
                policy: LimitPolicy::Concurrency,
                quota: u64::from(max),
                window_secs: 1,
                retry_after: Duration::from_secs(1),
            })
    }

    fn spend(&self, principal: &str, model: &str, now: u64) -> Result<(), Exceeded> {
        let (daily, monthly) = (
            self.config.daily_budget_per_principal_model,
            self.config.monthly_budget_per_principal_model,
        );
        if daily.is_none() && monthly.is_none() {
            return Ok(());
        }
        let day = now / 86400;
        let month = month_index(day);
        let Ok(mut budgets) = self.budgets.lock() else {
            // Fail closed: a budget that cannot be read is not spent.
            return Err(Exceeded {
                policy: LimitPolicy::Budget,
                quota: 0,
                window_secs: 86400,
                retry_after: Duration::from_secs(60),
            });
        };
        let spent = budgets
            .entry((principal.to_string(), model.to_string()))
            .or_default();
        if spent.day != day {
            *spent = Spent {
                day,
                in_day: 0,
                ..*spent
            };
        }
        if spent.month != month {
            *spent = Spent {
                month,
                in_month: 0,
                ..*spent
            };
        }
        if daily.is_some_and(|l| spent.in_day >= l) {
            return Err(self.budget_exceeded(LimitPolicy::DailyBudget, now));
        }
        if monthly.is_some_and(|l| spent.in_month >= l) {
            return Err(self.budget_exceeded(LimitPolicy::MonthlyBudget, now));
        }
        spent.in_day += 1;
        spent.in_month += 1;
        Ok(())
    }

    /// Drop idle rate-limiter state so memory follows active callers.
    pub fn housekeeping(&self) {
        for l in [&self.per_principal, &self.per_model].into_iter().flatten() {
            l.retain_recent();
        }
        if let Some(l) = &self.per_principal_model {
            l.retain_recent();
        }
        if let Ok(mut map) = self.concurrency.lock() {
            // A semaphore with every permit back and no other holder is idle.
            map.retain(|_, s| Arc::strong_count(s) > 1 || s.available_permits() == 0);
        }
    }
}

impl From<Exceeded> for Refusal {
    fn from(e: Exceeded) -> Refusal {
        Refusal::TooManyRequests(e)
    }
}

/// 1970-01-01 as a Julian day number: `time` counts days that way.
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;

/// The date `days_since_epoch` days after 1970-01-01 (UTC), held to `time`'s last date.
fn date_of(days_since_epoch: u64) -> time::Date {
    i64::try_from(days_since_epoch)
        .ok()
        .and_then(|d| i32::try_from(d + UNIX_EPOCH_JULIAN_DAY).ok())
        .and_then(|j| time::Date::from_julian_day(j).ok())
        .unwrap_or(time::Date::MAX)
}

/// Months since 1970-01 for a day number (calendar months, UTC).
fn month_index(days_since_epoch: u64) -> u64 {
    let date = date_of(days_since_epoch);
    let years = u64::try_from(date.year() - 1970).unwrap_or(0);
    years * 12 + u64::from(u8::from(date.month()) - 1)
}

/// Days since 1970-01-01 of the first day of month `index` (see [`month_index`]).
fn first_day_of_month_index(index: u64) -> u64 {
    let year = i32::try_from(1970 + index / 12).unwrap_or(9999);
    let month = time::Month::try_from((index % 12) as u8 + 1).unwrap_or(time::Month::January);
    time::Date::from_calendar_date(year, month, 1).map_or(u64::MAX / 86_400, |d| {
        (i64::from(d.to_julian_day()) - UNIX_EPOCH_JULIAN_DAY) as u64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(f: impl FnOnce(&mut RateLimits)) -> Limiter {
        let mut c = RateLimits::default();
        f(&mut c);
        Limiter::new(&c)
    }

    #[test]
    fn rates_refuse_past_the_burst_with_a_retry_time() {
        let l = limits(|c| {
            c.per_principal = Some(Rate {
                count: 3,
                period: Duration::from_secs(60),
            })
        });
        for _ in 0..3 {
            assert!(l.local_rates("key:a", "iris").is_ok());
        }
        let e = l.local_rates("key:a", "iris").err().unwrap();
        assert_eq!(
            (e.policy, e.quota, e.window_secs),
            (LimitPolicy::PerPrincipal, 3, 60)
        );
        assert!(e.retry_after > Duration::from_secs(1) && e.retry_after <= Duration::from_secs(20));
        assert!(
            l.local_rates("key:b", "iris").is_ok(),
            "another principal has its own bucket"
        );
    }

    #[test]
    fn budgets_count_inference_only_and_reset_with_the_day() {
        let l = limits(|c| c.daily_budget_per_principal_model = Some(2));
        let day = 20_000 * 86400;
        assert!(l.spend("key:a", "iris", day).is_ok());
        assert!(l.spend("key:a", "iris", day + 10).is_ok());
        let e = l.spend("key:a", "iris", day + 20).unwrap_err();
        assert_eq!(e.policy, LimitPolicy::DailyBudget);
        assert_eq!(e.retry_after, Duration::from_secs(86400 - 20));
        assert!(
            l.spend("key:a", "diabetes", day + 20).is_ok(),
            "budgets are per model"
        );
        assert!(
            l.spend("key:a", "iris", day + 86400).is_ok(),
            "a new day, a new budget"
        );
    }

    #[test]
    fn monthly_budget_resets_on_the_first_of_the_month() {
        let l = limits(|c| c.monthly_budget_per_principal_model = Some(1));
        // 2026-01-31T00:00:00Z.
        let jan31 = 1_769_817_600;
        assert!(l.spend("k", "m", jan31).is_ok());
        let e = l.spend("k", "m", jan31 + 3600).unwrap_err();
        assert_eq!(e.retry_after, Duration::from_secs(86400 - 3600));
        assert!(l.spend("k", "m", jan31 + 86400).is_ok());
    }

    #[tokio::test]
    async fn budgets_are_counted_on_the_calls_own_clock() {
        let l = limits(|c| c.monthly_budget_per_principal_model = Some(1));
        let mut call = crate::context::Call::new(
            crate::context::Plane::Data,
            "192.0.2.3:4000".parse().unwrap(),
            None,
        );
        // 2026-01-31T00:00:00Z, whatever the machine's clock says.
        call.at = std::time::UNIX_EPOCH + Duration::from_secs(1_769_817_600);
        assert!(l.admit_call(&mut call, "m", true).await.is_ok());
        assert_eq!(call.limit, Some(LimitOutcome::Admitted));
        assert!(l.admit_call(&mut call, "m", true).await.is_err());
        assert!(matches!(
            call.limit,
            Some(LimitOutcome::Refused("budget_exhausted"))
        ));
        call.at += Duration::from_secs(86_400);
        assert!(
            l.admit_call(&mut call, "m", true).await.is_ok(),
            "a new month"
        );
    }

    #[tokio::test]
    async fn concurrency_slots_are_returned() {
        let l = limits(|c| c.max_concurrent_per_principal = Some(1));
        let held = l.admit("key:a", "iris", true).await.ok().unwrap();
        assert!(matches!(
            l.admit("key:a", "iris", true).await,
            Err(Refusal::TooManyRequests(Exceeded {
                policy: LimitPolicy::Concurrency,
                ..
            }))
        ));
        drop(held);
        assert!(l.admit("key:a", "iris", true).await.is_ok());
    }

    #[tokio::test]
    async fn an_unreachable_backend_applies_on_backend_error() {
        let config = RateLimits {
            per_principal: Some(Rate {
                count: 100,
                period: Duration::from_secs(1),
            }),
            daily_budget_per_principal_model: Some(100),
            ..RateLimits::default()
        };
        let backend = |rates, budgets| Backend {
            // Nothing listens on port 1.
            kind: LimitsBackend::Redis {
                url: "redis://127.0.0.1:1".into(),
                password_file: None,
                timeout: Duration::from_millis(200),
                key_prefix: "t".into(),
            },
            on_error_rates: rates,
            on_error_budgets: budgets,
        };
        let errors = Family::<BackendLabels, Counter>::default();
        let l = Limiter::with_backend(
            &config,
            &backend(OnBackendError::Local, OnBackendError::Deny),
            errors.clone(),
        )
        .unwrap();
        // Metadata (no budget): rates fall back to local counters.
        assert!(l.admit("key:a", "iris", false).await.is_ok());
        // Inference spends a budget, which denies while the backend is away.
        assert!(matches!(
            l.admit("key:a", "iris", true).await,
            Err(Refusal::LimitBackendUnavailable("budgets"))
        ));
        let denied = errors
            .get_or_create(&BackendLabels {
                limit: "budgets",
                fallback: "deny",
            })
            .get();
        assert_eq!(denied, 1);
        let l = Limiter::with_backend(
            &config,
            &backend(OnBackendError::Local, OnBackendError::Local),
            Family::default(),
        )
        .unwrap();
        assert!(l.admit("key:a", "iris", true).await.is_ok());
    }

    #[test]
    fn months_count_calendar_months() {
        assert_eq!(month_index(0), 0);
        assert_eq!(month_index(30), 0, "1970-01-31");
        assert_eq!(month_index(31), 1, "1970-02-01");
        assert_eq!(month_index(365), 12, "1971-01-01");
        // 2000-02-29 (a leap day) and 2100-03-01 (2100 is not a leap year).
        assert_eq!(month_index(11_016), 30 * 12 + 1);
        assert_eq!(month_index(47_541), 130 * 12 + 2);
        assert_eq!(first_day_of_month_index(12), 365);
        assert_eq!(first_day_of_month_index(30 * 12 + 2), 11_017, "2000-03-01");
        assert_eq!(
            month_index(u64::MAX / 86_400),
            month_index(3_000_000),
            "held to year 9999"
        );
    }
}
