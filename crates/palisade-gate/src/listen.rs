//! Stage `listen`: accept connections, terminate TLS, and bound everything a client can make
//! the server hold: connections (cap, answered 503 past it), time to send headers (closed),
//! header size (431), body size (413), and the whole request (408, in `gate.rs`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::Request;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::context::Plane;
use crate::metrics::PlaneLabels;
use crate::state::State;
use crate::{gate, tls};
use palisade_access::principal::Peer;

/// How long connections in flight get to finish after shutdown is asked for.
const DRAIN: Duration = Duration::from_secs(10);

pub struct Listener {
    pub plane: Plane,
    pub tcp: TcpListener,
    pub tls: Option<TlsAcceptor>,
}

/// Accept and serve until `shutdown` flips, then drain.
pub async fn serve(listener: Listener, state: Arc<State>, mut shutdown: watch::Receiver<bool>) {
    let limits = &state.config.limits;
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes)
        .max_headers(100);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(limits.max_header_bytes as u32)
        .max_concurrent_streams(128)
        .keep_alive_interval(Duration::from_secs(30));
    let graceful = GracefulShutdown::new();
    let plane = listener.plane;
    let labels = PlaneLabels {
        plane: plane.as_str(),
    };

    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.tcp.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(plane = plane.as_str(), error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = tcp.set_nodelay(true);
        let permit = connections.clone().try_acquire_owned().ok();
        if permit.is_none() {
            state
                .metrics
                .rejected_connections
                .get_or_create(&labels)
                .inc();
        }
        let (state, tls, builder, labels) = (
            state.clone(),
            listener.tls.clone(),
            builder.clone(),
            labels.clone(),
        );
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let gauge = state
                .metrics
                .open_connections
                .get_or_create(&labels)
                .clone();
            gauge.inc();
            match tls {
                Some(acceptor) => {
                    let handshake = tokio::time::timeout(
                        state.config.limits.header_read_timeout,
                        acceptor.accept(tcp),
                    );
                    match handshake.await {
                        Ok(Ok(stream)) => {
                            // Parsed once per connection; rustls has already verified it.
                            let client_cert = stream
                                .get_ref()
                                .1
                                .peer_certificates()
                                .and_then(|chain| chain.first())
                                .map(|leaf| Arc::new(tls::peer_certificate(leaf)));
                            serve_io(
                                stream,
                                peer,
                                client_cert,
                                plane,
                                state,
                                builder,
                                permit.is_some(),
                                watcher,
                            )
                            .await
                        }
                        failed => {
                            state
                                .metrics
                                .tls_handshake_failures
                                .get_or_create(&labels)
                                .inc();
                            log_handshake_failure(plane, peer, failed.ok().and_then(Result::err));
                        }
                    }
                }
                None => {
                    serve_io(
                        tcp,
                        peer,
                        None,
                        plane,
                        state,
                        builder,
                        permit.is_some(),
                        watcher,
                    )
                    .await
                }
            }
            gauge.dec();
            drop(permit);
        });
    }
    drop(listener.tcp);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(DRAIN) => tracing::warn!(plane = plane.as_str(), "connections still open after the drain period; closing them"),
    }
}

#[allow(clippy::too_many_arguments)]
async fn serve_io<I>(
    io: I,
    peer: SocketAddr,
    client_cert: Peer,
    plane: Plane,
    state: Arc<State>,
    mut builder: auto::Builder<TokioExecutor>,
    within_cap: bool,
    watcher: hyper_util::server::graceful::Watcher,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    if !within_cap {
        // One answer (503) and the connection closes.
        builder.http1().keep_alive(false);
    }
    let service = service_fn(move |req: Request<Incoming>| {
        let state = state.clone();
        let client_cert = client_cert.clone();
        async move {
            let reply = if within_cap {
                gate::handle(state, plane, peer, client_cert, req).await
            } else {
                gate::over_capacity(&state, plane, peer).await
            };
            Ok::<_, Infallible>(reply)
        }
    });
    let result = watcher
        .watch(
            builder
                .serve_connection(TokioIo::new(io), service)
                .into_owned(),
        )
        .await;
    if let Err(e) = result {
        tracing::debug!(plane = plane.as_str(), %peer, error = %e, "connection ended with an error");
    }
}

/// Why a TLS handshake failed, for operators (a client without the certificate a
/// `client_auth = "required"` plane asks for sees only a reset connection). At most one
/// line per second, so a flood of bad handshakes cannot flood the log.
fn log_handshake_failure(plane: Plane, peer: std::net::SocketAddr, error: Option<std::io::Error>) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = palisade_access::keys::now_secs();
    if LAST.swap(now, Ordering::Relaxed) == now {
        return;
    }
    let tls = error
        .as_ref()
        .and_then(|e| e.get_ref())
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let hint = match tls {
        Some(rustls::Error::NoCertificatesPresented) => {
            "this plane requires a client certificate (client_auth = \"required\"); present one, or set client_auth = \"optional\" to let tokens in without one"
        }
        Some(rustls::Error::InvalidCertificate(_)) => {
            "the client certificate does not chain to client_ca, or has expired"
        }
        _ => "",
    };
    let why = error.map_or_else(|| "timed out".to_string(), |e| e.to_string());
    tracing::warn!(plane = plane.as_str(), client = %peer.ip(), error = %crate::pii::scrub(&why), hint, "TLS handshake failed");
}
