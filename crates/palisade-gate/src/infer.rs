//! Stage `infer`: run the model. The plan is shared; each call gets its own state, so calls
//! on one model run in parallel without a lock.

use palisade_model::{RunError, Runtime, TValue, TVec};

use crate::refusal::Refusal;

pub fn run(model: &str, runtime: &Runtime, inputs: TVec<TValue>) -> Result<TVec<TValue>, Refusal> {
    runtime.run(inputs).map_err(|e| match e {
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
