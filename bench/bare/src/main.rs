//! The limit Palisade's serving path is measured against: the same work a served call must
//! do, and nothing else. TLS 1.3 (the server's own rustls configuration, the same hyper
//! connection builder), one constant-time bearer-token compare, the V2 JSON request decoded
//! against the model's signature, the same model run by the same runtime, the V2 JSON
//! response. No policy, no limits, no audit log, no metrics, no PII inspection.
//!
//! `bench/run.sh` runs it beside Palisade and MLServer, in the same run, so the cost of
//! Palisade's controls reads as one ratio: Palisade's req/s over this server's.
//!
//! ```text
//! palisade-bare MODEL.onnx CERT.pem KEY.pem TOKEN_FILE PORT
//! ```
#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use palisade_model::v2::{self, DecodeLimits, OutputTensor};
use palisade_model::Runtime;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// The same allocator as `palisade`, so the ratio measures the controls, not malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const MAX_BODY: usize = 8 << 20;
const LIMITS: DecodeLimits = DecodeLimits {
    max_tensor_elements: 1 << 24,
    max_json_depth: 64,
};

struct Served {
    runtime: Runtime,
    bearer: Vec<u8>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, cert, key, token, port] = args.as_slice() else {
        return Err("usage: palisade-bare MODEL.onnx CERT.pem KEY.pem TOKEN_FILE PORT".into());
    };
    let runtime = Runtime::load(
        Path::new(model),
        &std::fs::read(model)?,
        &palisade_gate::operators::ONNX_ML,
    )?;
    let bearer = format!("Bearer {}", std::fs::read_to_string(token)?.trim()).into_bytes();
    let served = Arc::new(Served { runtime, bearer });
    let tls = TlsAcceptor::from(tls_config(cert, key)?);
    let port: u16 = port.parse()?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(served, tls, port))
}

/// The server's own TLS setup (`palisade_gate::tls::server_config`): TLS 1.3 only, the same
/// provider, suites and ALPN, so the ratio never measures a TLS difference.
fn tls_config(
    cert: &str,
    key: &str,
) -> Result<Arc<rustls::ServerConfig>, Box<dyn std::error::Error>> {
    Ok(palisade_gate::tls::server_config(&palisade_config::Tls {
        cert: cert.into(),
        key: key.into(),
        client_ca: None,
        client_auth: palisade_config::ClientAuth::Off,
        allow_tls12: false,
    })?)
}

async fn serve(
    served: Arc<Served>,
    tls: TlsAcceptor,
    port: u16,
) -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on https://{}", listener.local_addr()?);
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let (served, tls, builder) = (served.clone(), tls.clone(), builder.clone());
        tokio::spawn(async move {
            let Ok(stream) = tls.accept(tcp).await else {
                return;
            };
            let service = service_fn(move |req| {
                let served = served.clone();
                async move { Ok::<_, Infallible>(answer(&served, req).await.map(Full::new)) }
            });
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(served: &Served, req: Request<Incoming>) -> Response<Bytes> {
    let authorized = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .is_some_and(|v| bool::from(v.as_bytes().ct_eq(&served.bearer)));
    if !authorized {
        return reply(StatusCode::UNAUTHORIZED, "unauthenticated".into());
    }
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return reply(StatusCode::PAYLOAD_TOO_LARGE, "body too large".into()),
    };
    match infer(&served.runtime, &body) {
        Ok(body) => {
            let mut response = Response::new(Bytes::from(body));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(message) => reply(StatusCode::BAD_REQUEST, message),
    }
}

fn infer(runtime: &Runtime, body: &[u8]) -> Result<Vec<u8>, String> {
    let mut request = v2::decode_request(body, None, LIMITS).map_err(|e| e.message)?;
    let inputs = std::mem::take(&mut request.inputs);
    let inputs = v2::bind_inputs("model", inputs, &runtime.inputs, runtime.missing_values)
        .map_err(|e| e.message)?;
    let outputs = runtime.run(inputs).map_err(|e| format!("{e:?}"))?;
    let selected: Vec<OutputTensor<'_>> = runtime
        .outputs
        .iter()
        .zip(outputs.iter())
        .map(|(spec, tensor)| OutputTensor {
            name: &spec.name,
            tensor,
            binary: false,
        })
        .collect();
    Ok(v2::encode_response("model", "1", request.id.as_deref(), &selected)?.body)
}

fn reply(status: StatusCode, message: String) -> Response<Bytes> {
    let body = serde_json::json!({ "error": message }).to_string();
    let mut response = Response::new(Bytes::from(body));
    *response.status_mut() = status;
    response
}
