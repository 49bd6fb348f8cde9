//! Stage `harden`: what the model computed, made fit to leave the server. Today: the
//! personal data in text outputs, minimized under the model's `[pii]` output policy (an
//! output the policy refuses is withheld with a 422, never sent). The output policies of the
//! extraction defences (labels only, top-k, rounding, noise) belong here too.

use palisade_model::{TValue, TVec};

use crate::inspect::Signature;
use crate::pii::{Direction, PiiFindings, PiiGuard};
use crate::refusal::Refusal;

/// The stage: the outputs as they may leave, or the refusal that withholds them.
pub fn outputs(
    signature: &Signature<'_>,
    pii: &PiiGuard,
    outputs: TVec<TValue>,
    found: &mut PiiFindings,
) -> Result<TVec<TValue>, Refusal> {
    let (model, specs) = (signature.model, signature.outputs);
    pii.minimize(model, Direction::Output, specs, outputs, found)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use palisade_model::v2::{DecodeLimits, MissingValues};
    use palisade_model::TensorSpec;

    use super::*;
    use crate::inspect;

    /// A text tensor, decoded the way a request's would be (inputs allowed through).
    fn text(values: &[&str]) -> (Vec<TensorSpec>, TVec<TValue>) {
        let specs = inspect::tests::text_input();
        let allow_inputs = inspect::tests::guard(palisade_config::pii::ModelPii {
            inputs: [("default".to_string(), "allow".to_string())].into(),
            outputs: Default::default(),
        });
        let data: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
        let body = format!(
            r#"{{"inputs":[{{"name":"text","datatype":"BYTES","shape":[{}],"data":[{}]}}]}}"#,
            values.len(),
            data.join(",")
        );
        let signature = inspect::Signature {
            model: "m",
            inputs: &specs,
            outputs: &[],
            missing_values: MissingValues::Refused,
            limits: DecodeLimits {
                max_tensor_elements: 64,
                max_json_depth: 8,
            },
        };
        let (_, values) = inspect::request(
            &signature,
            &allow_inputs,
            &inspect::tests::head(&http::HeaderMap::new()),
            &Bytes::from(body),
            &mut PiiFindings::default(),
        )
        .unwrap();
        (specs, values)
    }

    fn signature(outputs: &[TensorSpec]) -> Signature<'_> {
        Signature {
            model: "m",
            inputs: &[],
            outputs,
            missing_values: MissingValues::Refused,
            limits: DecodeLimits {
                max_tensor_elements: 64,
                max_json_depth: 8,
            },
        }
    }

    #[test]
    fn personal_data_in_text_outputs_does_not_leave() {
        let (specs, values) = text(&["call 212-555-0198 or mail a.b@example.org", "fine"]);
        let mut found = PiiFindings::default();
        let out = outputs(
            &signature(&specs),
            &inspect::tests::redact_everything(),
            values,
            &mut found,
        )
        .unwrap();
        let sent = out[0]
            .try_as_plain_ram()
            .unwrap()
            .as_slice::<String>()
            .unwrap()
            .to_vec();
        assert!(!sent[0].contains("a.b@example.org"), "{sent:?}");
        assert!(!sent[0].contains("555-0198"), "{sent:?}");
        assert_eq!(sent[1], "fine");
        assert!(found.iter().all(|(d, _, _)| d == Direction::Output));
        assert!(found.iter().any(|(_, e, n)| e == "EMAIL_ADDRESS" && n == 1));
    }

    #[test]
    fn an_output_the_policy_rejects_is_withheld() {
        let reject = inspect::tests::guard(palisade_config::pii::ModelPii {
            inputs: Default::default(),
            outputs: [("EMAIL_ADDRESS".to_string(), "reject".to_string())].into(),
        });
        let (specs, values) = text(&["mail a.b@example.org"]);
        let found = &mut PiiFindings::default();
        let refused = outputs(&signature(&specs), &reject, values, found);
        match refused {
            Err(refusal @ Refusal::Unprocessable(_)) => {
                let message = refusal.to_string();
                assert!(message.contains("withheld"), "{message}");
                assert!(!message.contains("a.b@example.org"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
}
