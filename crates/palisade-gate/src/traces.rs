//! Optional OpenTelemetry traces (`[traces]`): one span per call, one child span per stage,
//! exported over OTLP/HTTP in batches from a tokio task.
//!
//! Why spans are built after the call rather than opened around each stage: the stages
//! already time themselves for the audit entry and the metrics, so the trace reuses those
//! measurements and costs nothing on the request path when it is off. The caller's W3C
//! `traceparent` is honoured, so Palisade's spans join the client's trace. Spans carry the
//! request id, plane, action, model, version, outcome and authentication method — not the
//! principal, the client address or any payload: a tracing backend is not an audit log.

use std::time::Duration;

use http::HeaderMap;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{Span, SpanKind, Status, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;

use crate::context::Call;

const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Traces {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    propagator: TraceContextPropagator,
}

impl Traces {
    /// Build the exporter; must run inside the tokio runtime the batches are sent from.
    pub fn start(config: &palisade_config::traces::Traces) -> Result<Traces, String> {
        let client = palisade_access::outbound::client(
            config.ca.as_deref(),
            EXPORT_TIMEOUT,
            config.otlp_endpoint.starts_with("https://"),
        )?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(config.otlp_endpoint.clone())
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| format!("OTLP exporter for {}: {e}", config.otlp_endpoint))?;
        let processor =
            BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio).build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                config.sample_ratio,
            ))))
            .with_resource(
                Resource::builder()
                    .with_service_name(config.service_name.clone())
                    .build(),
            )
            .build();
        let tracer = provider.tracer("palisade");
        Ok(Traces {
            provider,
            tracer,
            propagator: TraceContextPropagator::new(),
        })
    }

    /// The caller's trace context from `traceparent` / `tracestate`, if any.
    pub fn parent(&self, headers: &HeaderMap) -> Context {
        self.propagator.extract(&Headers(headers))
    }

    /// Export the call's span and one child per stage.
    pub fn export(&self, call: &Call, status: u16, reason: &'static str) {
        // The call's one clock: it arrived at `at`, and took what its monotonic clock says.
        let start = call.at;
        let end = start + call.started.elapsed();
        let parent = call.trace_parent.clone().unwrap_or_default();
        let mut attributes = vec![
            KeyValue::new("palisade.request_id", call.id.clone()),
            KeyValue::new("palisade.plane", call.plane.as_str()),
            KeyValue::new("http.response.status_code", i64::from(status)),
            KeyValue::new("palisade.reason", reason),
        ];
        if let Some(action) = call.action {
            attributes.push(KeyValue::new("palisade.action", action.as_str()));
        }
        if let Some(model) = &call.model {
            attributes.push(KeyValue::new("palisade.model", model.clone()));
        }
        if let Some(version) = &call.version {
            attributes.push(KeyValue::new("palisade.model_version", version.clone()));
        }
        if let Some(p) = &call.principal {
            attributes.push(KeyValue::new("palisade.auth_method", p.method.as_str()));
        }
        let mut root = self.tracer.build_with_context(
            self.tracer
                .span_builder("palisade.call")
                .with_kind(SpanKind::Server)
                .with_start_time(start)
                .with_attributes(attributes),
            &parent,
        );
        if status >= 500 {
            root.set_status(Status::error(reason));
        }
        let cx = parent.with_remote_span_context(root.span_context().clone());
        for (stage, offset, took) in &call.stages {
            let stage_start = start + *offset;
            let mut span = self.tracer.build_with_context(
                self.tracer
                    .span_builder(stage.as_str())
                    .with_kind(SpanKind::Internal)
                    .with_start_time(stage_start),
                &cx,
            );
            span.end_with_timestamp(stage_start + *took);
        }
        root.end_with_timestamp(end);
    }

    /// Send what is buffered and stop. The SDK's shutdown blocks until the export task is
    /// done, so it waits on a blocking thread while the runtime runs that task.
    pub async fn shutdown(&self) {
        let provider = self.provider.clone();
        let done = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(e)) = done {
            tracing::warn!(error = %e, "trace exporter did not shut down cleanly");
        }
    }
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}
