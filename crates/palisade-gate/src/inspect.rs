//! Stage `inspect`: decode the request body against the model's signature, then minimize
//! the personal data in its text inputs. Nothing reaches the runtime that does not match
//! the model's input names, datatypes and shapes, that exceeds the element and nesting
//! limits, or that carries personal data the model's `[pii]` policy does not accept.

use bytes::Bytes;
use http::{header, HeaderMap};
use palisade_model::v2::{
    self, DecodeError, DecodeFailure, DecodeLimits, InferRequest, MissingValues,
};
use palisade_model::{TValue, TVec, TensorSpec};

use crate::pii::{Direction, PiiFindings, PiiGuard};
use crate::refusal::Refusal;

/// What a call is checked against: the model's inputs and outputs and the server's limits.
pub struct Signature<'a> {
    pub model: &'a str,
    pub inputs: &'a [TensorSpec],
    pub outputs: &'a [TensorSpec],
    pub missing_values: MissingValues,
    pub limits: DecodeLimits,
}

impl<'a> Signature<'a> {
    pub fn of(model: &'a str, runtime: &'a palisade_model::Runtime, limits: DecodeLimits) -> Self {
        Signature {
            model,
            inputs: &runtime.inputs,
            outputs: &runtime.outputs,
            missing_values: runtime.missing_values,
            limits,
        }
    }
}

/// The stage: the decoded request (its inputs moved out) and the inputs the model will see.
pub fn request(
    signature: &Signature<'_>,
    pii: &PiiGuard,
    head: &http::request::Parts,
    body: &Bytes,
    found: &mut PiiFindings,
) -> Result<(InferRequest, TVec<TValue>), Refusal> {
    let mut request = infer_request(&head.headers, body, signature.limits)?;
    let inputs = std::mem::take(&mut request.inputs);
    let inputs = v2::bind_inputs(
        signature.model,
        inputs,
        signature.inputs,
        signature.missing_values,
    )?;
    let inputs = pii.minimize(
        signature.model,
        Direction::Input,
        signature.inputs,
        inputs,
        found,
    )?;
    Ok((request, inputs))
}

const HEADER_LENGTH: &str = "inference-header-content-length";

impl From<DecodeError> for Refusal {
    fn from(e: DecodeError) -> Refusal {
        match e.kind {
            DecodeFailure::TooLarge => Refusal::TooLarge(e.message),
            DecodeFailure::Invalid => Refusal::BadRequest(e.message),
        }
    }
}

fn infer_request(
    headers: &HeaderMap,
    body: &Bytes,
    limits: DecodeLimits,
) -> Result<InferRequest, Refusal> {
    if let Some(enc) = headers.get(header::CONTENT_ENCODING) {
        if !enc.as_bytes().eq_ignore_ascii_case(b"identity") {
            return Err(Refusal::UnsupportedMediaType(
                "compressed request bodies are not accepted; send the body uncompressed".into(),
            ));
        }
    }
    let json_len = match headers.get(HEADER_LENGTH) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok())
                .ok_or_else(|| {
                    Refusal::BadRequest(
                        "Inference-Header-Content-Length must be a non-negative integer".into(),
                    )
                })?,
        ),
    };
    Ok(v2::decode_request(body, json_len, limits)?)
}

#[cfg(test)]
pub(crate) mod tests {
    use palisade_model::DataType;

    use super::*;

    pub(crate) fn text_input() -> Vec<TensorSpec> {
        vec![TensorSpec {
            name: "text".into(),
            datatype: DataType::Bytes,
            shape: vec![-1],
        }]
    }

    /// A PII guard whose `[pii.default]` is `default` (no keys, the default score).
    pub(crate) fn guard(default: palisade_config::pii::ModelPii) -> PiiGuard {
        PiiGuard::compile(&palisade_config::pii::Pii {
            hash_key: None,
            encrypt_key: None,
            min_score: 0.5,
            default,
            models: Default::default(),
        })
        .unwrap()
    }

    pub(crate) fn redact_everything() -> PiiGuard {
        guard(Default::default())
    }

    fn inspect(headers: &HeaderMap, body: &str) -> Result<(TVec<TValue>, PiiFindings), Refusal> {
        let specs = text_input();
        let signature = Signature {
            model: "m",
            inputs: &specs,
            outputs: &[],
            missing_values: MissingValues::Refused,
            limits: DecodeLimits {
                max_tensor_elements: 16,
                max_json_depth: 8,
            },
        };
        let mut found = PiiFindings::default();
        let body = Bytes::copy_from_slice(body.as_bytes());
        let (_, inputs) = request(
            &signature,
            &redact_everything(),
            &head(headers),
            &body,
            &mut found,
        )?;
        Ok((inputs, found))
    }

    pub(crate) fn head(headers: &HeaderMap) -> http::request::Parts {
        let (mut head, ()) = http::Request::new(()).into_parts();
        head.headers = headers.clone();
        head
    }

    fn texts(inputs: &TVec<TValue>) -> Vec<String> {
        inputs[0]
            .try_as_plain_ram()
            .unwrap()
            .as_slice::<String>()
            .unwrap()
            .to_vec()
    }

    const CALL: &str = r#"{"inputs":[{"name":"text","datatype":"BYTES","shape":[2],"data":["write to jane.doe@example.com","nothing here"]}]}"#;

    #[test]
    fn text_inputs_are_minimized_before_the_model_sees_them() {
        let (inputs, found) = inspect(&HeaderMap::new(), CALL).unwrap();
        let seen = texts(&inputs);
        assert!(!seen[0].contains("jane.doe@example.com"), "{seen:?}");
        assert_eq!(seen[1], "nothing here");
        assert_eq!(
            found.iter().collect::<Vec<_>>(),
            [(Direction::Input, "EMAIL_ADDRESS", 1)]
        );
    }

    #[test]
    fn requests_off_the_signature_or_over_the_limits_are_refused() {
        let wrong_name = CALL.replace("\"text\"", "\"other\"");
        assert!(matches!(
            inspect(&HeaderMap::new(), &wrong_name),
            Err(Refusal::BadRequest(_))
        ));
        let many: Vec<String> = (0..17).map(|i| format!("\"{i}\"")).collect();
        let too_many = format!(
            r#"{{"inputs":[{{"name":"text","datatype":"BYTES","shape":[17],"data":[{}]}}]}}"#,
            many.join(",")
        );
        assert!(matches!(
            inspect(&HeaderMap::new(), &too_many),
            Err(Refusal::TooLarge(_)) | Err(Refusal::BadRequest(_))
        ));
        assert!(matches!(
            inspect(&HeaderMap::new(), "{not json"),
            Err(Refusal::BadRequest(_))
        ));
    }

    #[test]
    fn compressed_bodies_and_bad_header_lengths_are_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_ENCODING, "gzip".parse().unwrap());
        assert!(matches!(
            inspect(&headers, CALL),
            Err(Refusal::UnsupportedMediaType(_))
        ));
        let mut headers = HeaderMap::new();
        headers.insert(HEADER_LENGTH, "-1".parse().unwrap());
        assert!(matches!(
            inspect(&headers, CALL),
            Err(Refusal::BadRequest(_))
        ));
    }
}
