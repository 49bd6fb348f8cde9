//! Stage `infer`: run the model. The plan is shared; each call gets its own state, so calls
//! on one model run in parallel without a lock. A call estimated to be slow runs on the
//! inference pool ([`crate::pool`]), off the async workers.

use std::sync::Arc;

use palisade_model::{RunError, Runtime, TValue, TVec};

use crate::pool::InferencePool;
use crate::refusal::Refusal;

pub async fn run(
    pool: &InferencePool,
    model: &str,
    runtime: &Arc<Runtime>,
    inputs: TVec<TValue>,
) -> Result<TVec<TValue>, Refusal> {
    let rows = inputs
        .first()
        .and_then(|t| t.shape().first().copied())
        .unwrap_or(1);
    let result = if pool.offloads(runtime, rows) {
        pool.run(model, runtime.clone(), rows, inputs).await?
    } else {
        runtime.run(inputs)
    };
    result.map_err(|e| match e {
        RunError::NonFinite { output } => Refusal::NonFiniteOutput {
            model: model.to_string(),
            output,
        },
        RunError::Failed(e) => {
            // The runtime's message may describe input values: it goes to the log only.
            tracing::warn!(model, error = %crate::pii::scrub(&e), "inference failed");
            Refusal::Internal(format!("model '{model}' failed to run"))
        }
    })
}
