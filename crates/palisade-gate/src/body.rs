//! Reading a request body within a size limit: used by the data plane (`gate`) and the admin
//! plane (`admin`) alike, below both, so neither imports the listener for it.

use bytes::Bytes;
use http::request::Parts;
use http::Request;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use crate::refusal::Refusal;

/// Read a request body of at most `max` bytes.
pub async fn read_body(req: Request<Incoming>, max: usize) -> Result<(Parts, Bytes), Refusal> {
    let (parts, body) = req.into_parts();
    let too_large = || Refusal::TooLarge(format!("request body is over the limit of {max} bytes"));
    if let Some(len) = parts.headers.get(http::header::CONTENT_LENGTH) {
        let len = len.to_str().ok().and_then(|s| s.parse::<u64>().ok());
        match len {
            Some(n) if n > max as u64 => return Err(too_large()),
            Some(_) => {}
            None => return Err(Refusal::BadRequest("Content-Length is not a number".into())),
        }
    }
    match Limited::new(body, max).collect().await {
        Ok(collected) => Ok((parts, collected.to_bytes())),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large())
        }
        Err(_) => Err(Refusal::BadRequest(
            "the request body could not be read to its end".into(),
        )),
    }
}
