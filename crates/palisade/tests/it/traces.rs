//! OpenTelemetry export: with `[traces]` set, a call leaves one `palisade.call` span in the
//! caller's trace (its `traceparent` honoured) and one child span per stage, exported over
//! OTLP/HTTP (protobuf) to a collector started here; no principal, address or payload in them.

use crate::common::*;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_leaves_a_span_per_stage_in_the_callers_trace() {
    let collector = HttpsSink::start(0).await;
    let traces = format!(
        "\n[traces]\notlp_endpoint = \"{}\"\nca = \"{}\"\n",
        collector.url,
        collector.ca.display()
    );
    let mut p = Palisade::with_config(|t| format!("{t}{traces}"));
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent_span = "00f067aa0ba902b7";
    let r = p
        .client()
        .post(format!("{}/v2/models/iris/infer", p.data))
        .header("authorization", format!("Bearer {}", p.token("client")))
        .header("traceparent", format!("00-{trace_id}-{parent_span}-01"))
        .json(&infer_body(&[5.123456, 3.5, 1.4, 0.2]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let request_id = request_id(&r);
    // Stopping flushes the exporter.
    p.stop();

    let mut spans = Vec::new();
    for (headers, body) in collector.received() {
        assert_eq!(headers["content-type"], "application/x-protobuf");
        let export = ExportTraceServiceRequest::decode(body.as_slice()).unwrap();
        for resource in export.resource_spans {
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
    }
    let root = spans
        .iter()
        .find(|s| s.name == "palisade.call" && hex::encode(&s.trace_id) == trace_id)
        .unwrap_or_else(|| panic!("no call span in the caller's trace: {spans:#?}"));
    assert_eq!(hex::encode(&root.parent_span_id), parent_span);
    let attribute = |name: &str| {
        root.attributes
            .iter()
            .find(|a| a.key == name)
            .map(|a| format!("{:?}", a.value))
    };
    assert!(attribute("palisade.request_id")
        .unwrap()
        .contains(&request_id));
    assert!(attribute("palisade.model").unwrap().contains("iris"));
    assert!(attribute("http.response.status_code")
        .unwrap()
        .contains("200"));
    let children: Vec<&str> = spans
        .iter()
        .filter(|s| s.parent_span_id == root.span_id)
        .map(|s| s.name.as_str())
        .collect();
    for stage in [
        "identify",
        "authorize",
        "limit",
        "inspect",
        "infer",
        "respond",
    ] {
        assert!(children.contains(&stage), "no {stage} span in {children:?}");
    }
    for child in spans.iter().filter(|s| s.parent_span_id == root.span_id) {
        assert!(child.start_time_unix_nano >= root.start_time_unix_nano);
        assert!(child.end_time_unix_nano <= root.end_time_unix_nano);
    }
    let everything = format!("{spans:?}");
    assert!(!everything.contains("5.123456"), "a payload reached a span");
    let key_id = p.token("client").split('_').nth(1).unwrap().to_string();
    assert!(!everything.contains(&key_id), "a principal reached a span");
    assert!(
        !everything.contains("127.0.0.1"),
        "a client address reached a span"
    );
}
