//! Starting and stopping a server: open the stores, load the models, bind both planes, and
//! only then say "ready".

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use palisade_audit::{AuditLog, WriterOptions};
use palisade_config::Config;
use palisade_model::Repository;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::auth_backoff::AuthBackoff;
use crate::context::Plane;
use crate::limit::Limiter;
use crate::listen::{self, Listener};
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::state::State;
use crate::tls;
use palisade_access::jwt::JwtVerifier;
use palisade_access::keys::KeyStore;
use palisade_access::policy::PolicyStore;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("alert webhook: {0}")]
    Webhook(String),
    #[error("traces: {0}")]
    Traces(String),
    #[error("audit log")]
    Audit(#[from] palisade_audit::AuditError),
    #[error("keys")]
    Keys(#[from] palisade_access::keys::KeyStoreError),
    #[error("model")]
    Model(#[from] palisade_model::ModelError),
    #[error("{plane} TLS: {source}")]
    Tls {
        plane: &'static str,
        source: crate::tls::TlsError,
    },
    #[error("{plane}: cannot listen on {addr}: {source}")]
    Bind {
        plane: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("policies")]
    Policy(#[from] palisade_access::policy::PolicyError),
    #[error("identity.jwt")]
    Jwt(#[from] palisade_access::jwt::JwksError),
    #[error("limits: {0}")]
    Limits(String),
    #[error("models: {0}")]
    Models(String),
    #[error("models: {0}")]
    LoadPolicy(#[from] crate::supply_chain::PolicyError),
    #[error("{0}")]
    Pii(String),
    #[error("models.load: pattern '{0}' is not a valid glob")]
    LoadPattern(String),
}

pub struct Server {
    pub data_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub state: Arc<State>,
    audit: Arc<AuditLog>,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Server {
    pub async fn start(config: Config) -> Result<Server, StartError> {
        let audit = Arc::new(open_audit(&config.audit)?);
        let capture = open_capture(&config.audit)?;
        let keys = KeyStore::open(&config.identity.keys_file)?;
        let policies = PolicyStore::load(&config)?;
        let jwt = JwtVerifier::start(&config.identity.jwt).await?;
        let models = Registry::new(
            Repository::new(
                &config.models.repository,
                config.models.max_model_bytes,
                crate::operators::ONNX_ML,
            )
            .with_policy(crate::supply_chain::load_policy(&config.models)?),
        );
        load_startup_models(&models, &config.models.load, &audit)?;
        let pii = crate::pii::PiiGuard::compile(&config.pii).map_err(StartError::Pii)?;

        let data_tls = listener_tls("data_plane", &config.data_plane)?;
        let admin_tls = listener_tls("admin_plane", &config.admin_plane)?;
        let data_tcp = bind("data_plane", config.data_plane.listen).await?;
        let admin_tcp = bind("admin_plane", config.admin_plane.listen).await?;
        let data_addr = data_tcp.local_addr().map_err(|source| StartError::Bind {
            plane: "data_plane",
            addr: config.data_plane.listen,
            source,
        })?;
        let admin_addr = admin_tcp.local_addr().map_err(|source| StartError::Bind {
            plane: "admin_plane",
            addr: config.admin_plane.listen,
            source,
        })?;
        for (name, l, addr) in [
            ("data_plane", &config.data_plane, data_addr),
            ("admin_plane", &config.admin_plane, admin_addr),
        ] {
            if l.dangerous_plaintext {
                tracing::warn!(plane = name, %addr, "DANGER: plaintext HTTP (dangerous_plaintext = true); credentials and payloads cross unencrypted");
            }
        }

        let metrics = Metrics::new();
        metrics.models_loaded.set(models.loaded().len() as i64);
        for model in models.loaded() {
            metrics.model_event(&model.name, "load");
        }
        let limiter = Limiter::with_backend(
            &config.rate_limits,
            &config.limits.backend,
            metrics.limit_backend_errors.clone(),
        )
        .map_err(StartError::Limits)?;
        let auth_backoff = AuthBackoff::new(&config.identity.backoff);
        let anonymous = crate::anonymous::Anonymous::new(&config.identity.anonymous);
        let (detector, observations) = crate::detect::channel(config.detect.enabled);
        let webhooks = config
            .detect
            .webhooks
            .iter()
            .map(|hook| {
                crate::detect::deliver::WebhookSender::new(
                    hook,
                    config.detect.webhook_queue,
                    config.detect.webhook_max_attempts,
                )
                .map(Arc::new)
                .map_err(StartError::Webhook)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let traces = config
            .traces
            .as_ref()
            .map(crate::traces::Traces::start)
            .transpose()
            .map_err(StartError::Traces)?;
        let pool = crate::pool::InferencePool::new(&config.models.pool);
        let blocks = Arc::new(crate::detect::block::Blocks::default());
        let alerting = Arc::new(crate::detect::deliver::Alerting {
            auto_block: config.detect.auto_block,
            block_for: config.detect.block_for,
            blocks: blocks.clone(),
            audit: audit.clone(),
            webhooks,
            alerts: metrics.alerts.clone(),
            deliveries: metrics.webhook_deliveries.clone(),
        });
        let state = Arc::new(State {
            pool,
            config,
            keys,
            jwt,
            policies,
            auth_backoff,
            anonymous,
            models,
            limiter,
            audit: audit.clone(),
            capture,
            metrics,
            detector,
            blocks: blocks.clone(),
            traces,
            pii,
        });
        let (shutdown, rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        tasks.spawn(listen::serve(
            Listener {
                plane: Plane::Data,
                tcp: data_tcp,
                tls: data_tls,
            },
            state.clone(),
            rx.clone(),
        ));
        tasks.spawn(listen::serve(
            Listener {
                plane: Plane::Admin,
                tcp: admin_tcp,
                tls: admin_tls,
            },
            state.clone(),
            rx.clone(),
        ));
        if let Some(observations) = observations {
            let detector = crate::detect::spawn(
                &state.config.detect,
                alerting.clone(),
                observations,
                rx.clone(),
            );
            tasks.spawn(async move {
                let _ = detector.await;
            });
        }
        for hook in &alerting.webhooks {
            tasks.spawn(hook.clone().run(alerting.deliveries.clone(), rx.clone()));
        }
        tasks.spawn(watch_keys(state.clone(), rx));
        Ok(Server {
            data_addr,
            admin_addr,
            state,
            audit,
            shutdown,
            tasks,
        })
    }

    /// The one JSON line printed to stdout once every listener is bound.
    pub fn ready_line(&self) -> serde_json::Value {
        let url = |addr: SocketAddr, tls: bool| {
            format!("{}://{addr}", if tls { "https" } else { "http" })
        };
        serde_json::json!({
            "event": "ready",
            "data_plane": url(self.data_addr, self.state.config.data_plane.tls.is_some()),
            "admin_plane": url(self.admin_addr, self.state.config.admin_plane.tls.is_some()),
            "models": self.state.models.loaded().iter().map(|m| m.name.clone()).collect::<Vec<_>>(),
            "audit_log": self.audit.dir().display().to_string(),
            "audit_verifier_key": self.audit.verifier_key(),
        })
    }

    /// SIGHUP: re-read the keys file, the policy files and the JWT keys now. Whatever fails
    /// to load leaves the previous version in force; the policy reload is audited.
    pub async fn reload(&self) {
        match self.state.keys.reload_if_changed() {
            Ok(changed) => tracing::info!(changed, "keys reloaded"),
            Err(e) => {
                tracing::error!(error = %e, "keys reload failed; the previous keys stay in force")
            }
        }
        let outcome = crate::admin::reload_policies(&self.state);
        crate::record::system_event(
            &self.state,
            "system:signal",
            "manage_policies",
            None,
            outcome.as_ref().map(|_| ()).map_err(|_| "invalid_policies"),
        );
        self.state.jwt.reload().await;
    }

    /// Stop accepting, let calls in flight finish, then flush and sync the audit log.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
        record_suppressed_refusals(&self.state);
        if let Some(traces) = &self.state.traces {
            traces.shutdown().await;
        }
        drop(self.state);
        self.audit.close();
    }
}

fn listener_tls(
    plane: &'static str,
    l: &palisade_config::Listener,
) -> Result<Option<TlsAcceptor>, StartError> {
    match &l.tls {
        None => Ok(None),
        Some(t) => Ok(Some(TlsAcceptor::from(
            tls::server_config(t).map_err(|source| StartError::Tls { plane, source })?,
        ))),
    }
}

async fn bind(plane: &'static str, addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind {
            plane,
            addr,
            source,
        })
}

/// Load the models `[models] load` names. A model the supply-chain checks refuse is left
/// out (audited and logged); the server serves the rest.
fn load_startup_models(
    models: &Registry,
    patterns: &[String],
    audit: &AuditLog,
) -> Result<(), StartError> {
    let mut globs = Vec::new();
    for p in patterns {
        globs.push(
            globset::Glob::new(p)
                .map_err(|_| StartError::LoadPattern(p.clone()))?
                .compile_matcher(),
        );
    }
    for name in models.repository().model_names()? {
        if globs.iter().any(|g| g.is_match(&name)) {
            match models.load(&name) {
                Ok(model) => {
                    tracing::info!(model = %name, versions = ?model.version_names(), risk = model.risk.as_str(), "model loaded");
                    crate::record::system_event_to(
                        audit,
                        "system:startup",
                        "load_model",
                        Some(&name),
                        Ok(()),
                        Some(crate::supply_chain::load_proof(&model)),
                    );
                }
                Err(e) => {
                    tracing::error!(model = %name, reason = e.reason(), error = %e, "model refused at start; serving without it");
                    crate::record::system_event_to(
                        audit,
                        "system:startup",
                        "load_model",
                        Some(&name),
                        Err(e.reason()),
                        None,
                    );
                }
            }
        }
    }
    Ok(())
}

/// Pick up key changes made by `palisade keys` while the server runs; once a minute, write
/// the summaries of unauthenticated refusals that were counted rather than recorded.
async fn watch_keys(state: Arc<State>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut summaries = tokio::time::interval(SUMMARY_INTERVAL);
    summaries.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                state.limiter.housekeeping();
                state.auth_backoff.housekeeping(std::time::Instant::now());
                state.anonymous.housekeeping();
                if let Err(e) = state.keys.reload_if_changed() {
                    tracing::error!(error = %e, "keys file unreadable; the previous keys stay in force");
                }
            }
            _ = summaries.tick() => record_suppressed_refusals(&state),
            _ = shutdown.changed() => return,
        }
    }
}

/// How often counted refusals are summarized into the audit log.
const SUMMARY_INTERVAL: Duration = Duration::from_secs(60);

/// One audit entry per source whose unauthenticated refusals went over its allowance.
fn record_suppressed_refusals(state: &State) {
    for (source, count) in state.anonymous.take_summary() {
        let subject = source.map_or_else(|| "other-sources".to_string(), |ip| ip.to_string());
        crate::record::summary_event(state, "unauthenticated_refusals", &subject, count);
    }
}

/// Open the audit log with its signing key (made on first start), and say what was found.
fn open_audit(config: &palisade_config::Audit) -> Result<AuditLog, StartError> {
    let loaded = palisade_audit::signing_key::load_or_create(&config.signing_key)?;
    if loaded.created {
        tracing::warn!(
            file = %config.signing_key.display(),
            verifier_key = %loaded.key.verifier(),
            "created the audit checkpoint signing key; keep a copy of the verifier key outside this machine to verify the log against"
        );
    }
    if loaded.too_open {
        tracing::warn!(
            file = %config.signing_key.display(),
            "the audit signing key can be read by other users; chmod 600 it"
        );
    }
    let options = WriterOptions {
        durability: match config.durability {
            palisade_config::Durability::PerCall => palisade_audit::Durability::PerCall,
            palisade_config::Durability::Interval(every) => {
                palisade_audit::Durability::Interval(every)
            }
        },
        segment_max_bytes: config.segment_max_bytes,
        segment_max_age: config.segment_max_age,
        checkpoint_every: config.checkpoint_every,
        checkpoint_interval: config.checkpoint_interval,
        witness: config.witness_file.clone(),
    };
    let (audit, report) = AuditLog::open(&config.dir, loaded.key, options)?;
    if report.truncated_bytes > 0 {
        tracing::warn!(
            bytes = report.truncated_bytes,
            "audit log ended in an incomplete record (a crash mid-write, never acknowledged); it was cut off"
        );
    }
    if report.unsigned_entries > 0 {
        tracing::warn!(
            entries = report.unsigned_entries,
            "audit entries written after the last checkpoint (a crash before signing) are now signed"
        );
    }
    tracing::info!(entries = report.size, verifier_key = %audit.verifier_key(), "audit log open");
    Ok(audit)
}

/// The payload capture key, when capture is on.
fn open_capture(
    config: &palisade_config::Audit,
) -> Result<Option<palisade_audit::capture::PayloadSealer>, StartError> {
    let Some(capture) = &config.capture else {
        return Ok(None);
    };
    let err = |message: String| {
        StartError::Audit(palisade_audit::AuditError::Open {
            path: capture.key_file.display().to_string(),
            message,
        })
    };
    let bytes = std::fs::read(&capture.key_file).map_err(|e| err(e.to_string()))?;
    let sealer =
        palisade_audit::capture::PayloadSealer::from_key_file_bytes(&bytes, capture.max_bytes)
            .map_err(|e| err(e.to_string()))?;
    tracing::warn!(
        key_id = sealer.key_id(),
        "payload capture is on: request and response bodies are sealed into audit entries"
    );
    Ok(Some(sealer))
}
