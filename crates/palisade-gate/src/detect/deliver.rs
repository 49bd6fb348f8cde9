//! Where alerts go: the server log, a metric, every configured webhook, and (with
//! `auto_block`) a temporary block that is itself audited.
//!
//! Webhooks get a JSON body signed with HMAC-SHA256 over `<timestamp>.<body>` in the
//! `Palisade-Signature: t=<unix seconds>,v1=<hex>` header, so a receiver can reject forged
//! and replayed alerts. Each webhook has its own bounded queue and worker: a receiver that
//! is down delays only its own alerts, retried with exponential back-off; when its queue is
//! full the oldest alert is dropped and counted.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use palisade_audit::AuditLog;
use palisade_config::detect::Webhook;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use ring::hmac;
use tokio::sync::Notify;

use super::block::Blocks;
use super::Alert;
use crate::metrics::{KindLabels, OutcomeLabels};

const TIMEOUT: Duration = Duration::from_secs(5);
const FIRST_RETRY: Duration = Duration::from_millis(250);
const MAX_RETRY: Duration = Duration::from_secs(30);

/// Everything raising an alert touches, shared by the detector task and the webhook
/// workers (and nothing else of the server's state).
pub struct Alerting {
    /// `[detect] auto_block` and `block_for`.
    pub auto_block: bool,
    pub block_for: Duration,
    /// The blocks the gate checks on every call.
    pub blocks: Arc<Blocks>,
    pub audit: Arc<AuditLog>,
    pub webhooks: Vec<Arc<WebhookSender>>,
    /// Alerts raised, by kind.
    pub alerts: Family<KindLabels, Counter>,
    /// Webhook deliveries, by outcome.
    pub deliveries: Family<OutcomeLabels, Counter>,
}

impl Alerting {
    /// Raise one alert everywhere it goes.
    pub fn raise(&self, alert: Alert) {
        raise(self, alert)
    }
}

fn raise(state: &Alerting, alert: Alert) {
    let kind = alert.kind.as_str();
    tracing::warn!(
        target: "palisade::alert",
        kind,
        subject = %alert.subject,
        detail = %alert.detail,
        "ALERT"
    );
    state.alerts.get_or_create(&KindLabels { kind }).inc();
    let mut blocked_for = None;
    let may_block = state.auto_block && alert.kind.blocks() && alert.subject != "all";
    if may_block && state.blocks.block(&alert.subject, state.block_for) {
        blocked_for = Some(state.block_for.as_secs());
        let event = palisade_audit::AuditEvent::system(
            format!("system-{}", crate::context::next_request_id()),
            "system:detector",
            "auto_block",
            Some(&alert.subject),
            Err(kind),
        );
        // Nobody waits on it; the writer syncs it with the next batch or checkpoint.
        if let Err(e) = state.audit.record(&event).map(drop) {
            tracing::error!(error = %e, "auto_block not recorded in the audit log");
        }
    }
    let body = serde_json::json!({
        "type": "palisade.alert",
        "kind": kind,
        "subject": alert.subject,
        "detail": alert.detail,
        "time": humantime::format_rfc3339_millis(
            std::time::UNIX_EPOCH + Duration::from_millis(alert.at_ms)
        ).to_string(),
        "blocked_for_s": blocked_for,
        "log": state.audit.verifier_key().split('+').next().unwrap_or_default(),
    });
    let body: Arc<[u8]> = body.to_string().into_bytes().into();
    for hook in &state.webhooks {
        hook.enqueue(body.clone(), &state.deliveries);
    }
}

/// One webhook endpoint: its client, secret and queue.
pub struct WebhookSender {
    url: String,
    key: hmac::Key,
    client: reqwest::Client,
    queue: Mutex<VecDeque<Arc<[u8]>>>,
    capacity: usize,
    max_attempts: u32,
    ready: Notify,
}

impl WebhookSender {
    pub fn new(
        hook: &Webhook,
        capacity: usize,
        max_attempts: u32,
    ) -> Result<WebhookSender, String> {
        let secret = palisade_files::read_limited(&hook.secret_file, 4096)
            .map_err(|e| format!("{}: {e}", hook.secret_file.display()))?;
        let secret = trim_newline(&secret);
        if secret.len() < 32 {
            return Err(format!(
                "{}: a webhook secret must be at least 32 bytes (e.g. `openssl rand -hex 32`)",
                hook.secret_file.display()
            ));
        }
        let client = palisade_access::outbound::client(
            hook.ca.as_deref(),
            TIMEOUT,
            hook.url.starts_with("https://"),
        )?;
        Ok(WebhookSender {
            url: hook.url.clone(),
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            client,
            queue: Mutex::new(VecDeque::new()),
            capacity,
            max_attempts,
            ready: Notify::new(),
        })
    }

    fn enqueue(&self, body: Arc<[u8]>, deliveries: &Family<OutcomeLabels, Counter>) {
        let Ok(mut queue) = self.queue.lock() else {
            return;
        };
        if queue.len() >= self.capacity {
            queue.pop_front();
            count(deliveries, "dropped");
        }
        queue.push_back(body);
        drop(queue);
        self.ready.notify_one();
    }

    fn next(&self) -> Option<Arc<[u8]>> {
        self.queue.lock().ok()?.pop_front()
    }

    /// `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
    pub fn signature(&self, timestamp: u64, body: &[u8]) -> String {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(timestamp.to_string().as_bytes());
        ctx.update(b".");
        ctx.update(body);
        format!("t={timestamp},v1={}", hex::encode(ctx.sign().as_ref()))
    }

    /// Deliver queued alerts until shutdown.
    pub async fn run(
        self: Arc<Self>,
        deliveries: Family<OutcomeLabels, Counter>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            let Some(body) = self.next() else {
                tokio::select! {
                    _ = self.ready.notified() => continue,
                    _ = shutdown.changed() => return,
                }
            };
            let mut wait = FIRST_RETRY;
            for attempt in 1..=self.max_attempts {
                match self.post(&body).await {
                    Ok(()) => {
                        count(&deliveries, "delivered");
                        break;
                    }
                    Err((retry, why)) if retry && attempt < self.max_attempts => {
                        count(&deliveries, "retried");
                        tracing::debug!(url = %self.url, attempt, why, "alert webhook failed; retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(wait) => {}
                            _ = shutdown.changed() => return,
                        }
                        wait = (wait * 2).min(MAX_RETRY);
                    }
                    Err((_, why)) => {
                        count(&deliveries, "failed");
                        tracing::error!(url = %self.url, attempt, why, "alert webhook gave up");
                        break;
                    }
                }
            }
        }
    }

    /// Ok, or (worth retrying, why not).
    async fn post(&self, body: &Arc<[u8]>) -> Result<(), (bool, String)> {
        let timestamp = super::now_ms() / 1000;
        let sent = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("palisade-signature", self.signature(timestamp, body))
            .body(body.to_vec())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => {
                let s = r.status();
                Err((
                    s.is_server_error() || s.as_u16() == 429,
                    format!("status {s}"),
                ))
            }
            Err(e) => Err((true, e.to_string())),
        }
    }
}

fn trim_newline(b: &[u8]) -> &[u8] {
    let b = b.strip_suffix(b"\n").unwrap_or(b);
    b.strip_suffix(b"\r").unwrap_or(b)
}

fn count(deliveries: &Family<OutcomeLabels, Counter>, outcome: &'static str) {
    deliveries.get_or_create(&OutcomeLabels { outcome }).inc();
}
