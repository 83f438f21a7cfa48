//! What happens to a request body outside the handlers: a minimum rate it must arrive at,
//! and what is left of it after an early answer.
//!
//! An early answer (416 for an out-of-order chunk, 401, 404, 413 ...) leaves the client's
//! body unread. On a keep-alive connection the next request starts after that body, so the
//! rest is read and discarded before the answer goes out — at most [`DRAIN_BYTES`] within
//! [`DRAIN_TIME`]. When the rest is longer or slower, the answer says `Connection: close`
//! and the connection closes after it (with a lingering close, [`crate::linger`], so the
//! client still reads the answer).
//!
//! The rate rule is Apache mod_reqtimeout's `body=...,MinRate=...`: a body has a grace
//! period (the client timeout) plus one more second for every `min_rate` bytes received.
//! A client trickling a byte a second falls behind and is cut; a slow but steady upload
//! above the rate is never cut, however large.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, Response};
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use tokio::time::{Instant, Sleep};

/// At most this much of an unread body is read and discarded to keep a connection.
pub(crate) const DRAIN_BYTES: u64 = 8 << 20;
/// ... within this long.
pub(crate) const DRAIN_TIME: Duration = Duration::from_secs(5);

/// The minimum body rate; `min_rate == 0` switches it off.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pace {
    pub min_rate: u64,
    pub grace: Duration,
}

/// What a body left behind when its handler dropped it before its end.
#[derive(Default)]
struct Leftover {
    rest: Option<Incoming>,
    /// Whether anyone read from the body (which, with `Expect: 100-continue`, asked the
    /// client to send it).
    polled: bool,
}

/// A request body that enforces [`Pace`] and hands back what its handler did not read.
struct GuardedBody {
    inner: Option<Incoming>,
    finished: bool,
    polled: bool,
    leftover: Arc<Mutex<Leftover>>,
    pace: Option<Pacing>,
}

struct Pacing {
    min_rate: u64,
    allowed_from: Instant,
    received: u64,
    timer: Pin<Box<Sleep>>,
}

impl Pacing {
    fn deadline(&self) -> Instant {
        self.allowed_from + Duration::from_secs_f64(self.received as f64 / self.min_rate as f64)
    }

    /// Whether the body fell behind its rate; arms the timer for the deadline if not.
    fn behind(&mut self, cx: &mut Context<'_>) -> bool {
        let deadline = self.deadline();
        if self.timer.deadline() != deadline {
            self.timer.as_mut().reset(deadline);
        }
        self.timer.as_mut().poll(cx).is_ready()
    }
}

/// The request body arrived slower than the configured minimum rate.
#[derive(Debug, thiserror::Error)]
#[error("the request body arrived slower than {min_rate} bytes/s: closing the connection")]
pub struct TooSlow {
    min_rate: u64,
}

impl HttpBody for GuardedBody {
    type Data = bytes::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        this.polled = true;
        match Pin::new(inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(pace), Some(data)) = (this.pace.as_mut(), frame.data_ref()) {
                    pace.received += data.len() as u64;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => {
                this.finished = true;
                Poll::Ready(None)
            }
            Poll::Pending => {
                let Some(pace) = this.pace.as_mut() else {
                    return Poll::Pending;
                };
                if !pace.behind(cx) {
                    return Poll::Pending;
                }
                let min_rate = pace.min_rate;
                // Dropping the body makes hyper close the connection after the answer.
                this.inner = None;
                Poll::Ready(Some(Err(TooSlow { min_rate }.into())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Some(b) => b.size_hint(),
            None => SizeHint::with_exact(0),
        }
    }
}

impl Drop for GuardedBody {
    fn drop(&mut self) {
        if let Some(rest) = self.inner.take() {
            if !self.finished && !rest.is_end_stream() {
                let mut leftover = self.leftover.lock().unwrap_or_else(|e| e.into_inner());
                leftover.rest = Some(rest);
                leftover.polled = self.polled;
            }
        }
    }
}

/// Answers `request` with `app`, the body guarded by `pace`; keeps the connection usable
/// after an early answer, or marks the answer `Connection: close`.
pub(crate) async fn answer<S>(app: S, request: Request<Incoming>, pace: Pace) -> Response<Body>
where
    S: tower::Service<Request<Body>, Response = Response<Body>, Error = std::convert::Infallible>,
{
    let expects_continue = request
        .headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let leftover = Arc::new(Mutex::new(Leftover::default()));
    let request = request.map(|incoming| {
        Body::new(GuardedBody {
            inner: Some(incoming),
            finished: false,
            polled: false,
            leftover: leftover.clone(),
            pace: (pace.min_rate > 0).then(|| Pacing {
                min_rate: pace.min_rate,
                allowed_from: Instant::now() + pace.grace,
                received: 0,
                timer: Box::pin(tokio::time::sleep(pace.grace)),
            }),
        })
    });
    let mut response = match tower::ServiceExt::oneshot(app, request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let left = std::mem::take(&mut *leftover.lock().unwrap_or_else(|e| e.into_inner()));
    if let Some(rest) = left.rest {
        // Unasked, a client waiting for `100 Continue` has not sent its body: reading it
        // would only ask for bytes nobody wants.
        let body_was_sent = left.polled || !expects_continue;
        let keep = body_was_sent && drain(rest).await;
        if !keep {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
    }
    response
}

/// Reads and discards the rest of a body; whether it ended within the bounds.
async fn drain(mut rest: Incoming) -> bool {
    if rest.size_hint().lower() > DRAIN_BYTES {
        return false;
    }
    let deadline = Instant::now() + DRAIN_TIME;
    let mut seen = 0u64;
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut rest).poll_frame(cx));
        match tokio::time::timeout_at(deadline, frame).await {
            Ok(None) => return true,
            Ok(Some(Ok(frame))) => {
                seen += frame.data_ref().map_or(0, |d| d.len() as u64);
                if seen > DRAIN_BYTES {
                    return false;
                }
            }
            Ok(Some(Err(_))) | Err(_) => return false,
        }
    }
}
