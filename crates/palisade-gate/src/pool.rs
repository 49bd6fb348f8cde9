//! Rule: a slow model never stalls the server. A call whose estimated cost (measured per model
//! at load, `Runtime::cost`) is above `[models.pool] offload_above` runs on a bounded set of
//! threads instead of an async worker, so the health routes and other models' calls keep
//! their latency while it computes. Fast calls (most tabular models: microseconds) run inline:
//! a hop to another thread would cost more than the call.
//!
//! Bounds, each refused with 503 and a `Retry-After` rather than queued without end:
//! `threads` calls run at once; `queue` calls wait for a thread, all models together; and
//! `per_model` calls of one model may be on the pool at once, running or waiting, so one
//! model cannot take the whole pool.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use palisade_config::models::Pool;
use palisade_model::{RunError, Runtime, TValue, TVec};
use tokio::sync::Semaphore;

pub use crate::refusal::Busy;
use crate::refusal::Refusal;

pub struct InferencePool {
    config: Pool,
    threads: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    models: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// Counts a call as waiting until it gets a thread (or is dropped: a timed-out call).
struct Waiting(Arc<AtomicUsize>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl InferencePool {
    pub fn new(config: &Pool) -> InferencePool {
        InferencePool {
            config: config.clone(),
            threads: Arc::new(Semaphore::new(config.threads)),
            waiting: Arc::new(AtomicUsize::new(0)),
            models: Mutex::new(HashMap::new()),
        }
    }

    /// Does a call of `rows` rows on this runtime go to the pool?
    pub fn offloads(&self, runtime: &Runtime, rows: usize) -> bool {
        runtime.cost.estimate(rows) > self.config.offload_above
    }

    /// Calls waiting for a thread now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    fn model_slots(&self, model: &str) -> Arc<Semaphore> {
        let mut models = self.models.lock().unwrap_or_else(|e| e.into_inner());
        models
            .entry(model.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.config.per_model)))
            .clone()
    }

    /// When a refused caller may try again: the queue ahead of it, drained at the model's
    /// measured cost by every thread, at least a second.
    fn retry_after(&self, runtime: &Runtime, rows: usize) -> Duration {
        let ahead = (self.waiting() + 1) as u32;
        let per_thread =
            runtime.cost.estimate(rows).saturating_mul(ahead) / self.config.threads.max(1) as u32;
        per_thread.clamp(Duration::from_secs(1), Duration::from_secs(60))
    }

    /// Runs the call on a pool thread, within the bounds.
    pub async fn run(
        &self,
        model: &str,
        runtime: Arc<Runtime>,
        rows: usize,
        inputs: TVec<TValue>,
    ) -> Result<Result<TVec<TValue>, RunError>, Refusal> {
        let busy = |which: Busy| Refusal::Busy {
            which,
            model: model.to_string(),
            retry_after: self.retry_after(&runtime, rows),
        };
        let Ok(model_slot) = self.model_slots(model).try_acquire_owned() else {
            return Err(busy(Busy::Model));
        };
        let thread = match self.threads.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.config.queue {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    return Err(busy(Busy::Pool));
                }
                let _waiting = Waiting(self.waiting.clone());
                self.threads.clone().acquire_owned().await.map_err(|_| {
                    Refusal::Unavailable("the inference pool is shutting down".into())
                })?
            }
        };
        // The permits travel with the work: a caller that gives up (timeout) frees nothing
        // until the computation it started is done.
        tokio::task::spawn_blocking(move || {
            let _held = (thread, model_slot);
            runtime.run(inputs)
        })
        .await
        .map_err(|e| Refusal::Internal(format!("an inference thread failed: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(threads: usize, queue: usize, per_model: usize) -> InferencePool {
        InferencePool::new(&Pool {
            threads,
            queue,
            per_model,
            offload_above: Duration::from_millis(1),
        })
    }

    #[test]
    fn busy_reasons_are_distinct() {
        assert_ne!(Busy::Pool.reason(), Busy::Model.reason());
    }

    #[test]
    fn each_model_gets_its_own_slots() {
        let p = pool(2, 4, 1);
        let a = p.model_slots("a");
        let _held = a.clone().try_acquire_owned().unwrap();
        assert!(p.model_slots("a").try_acquire_owned().is_err());
        assert!(p.model_slots("b").try_acquire_owned().is_ok());
    }

    #[test]
    fn a_dropped_waiter_leaves_the_queue() {
        let p = pool(1, 4, 4);
        p.waiting.fetch_add(1, Ordering::SeqCst);
        drop(Waiting(p.waiting.clone()));
        assert_eq!(p.waiting(), 0);
    }
}
