//! Slow and silent clients time out: a connection on which no byte has moved in either
//! direction for the client timeout is closed. That covers a client that stops in the
//! middle of its headers or of an upload body (the upload session stays, to be continued
//! or purged by gc), one that stops reading a download, and idle keep-alive connections:
//! none of them can hold a connection (and its task and buffers) forever. Any progress resets the clock, so a slow but moving transfer of
//! any size is never cut.
//!
//! It wraps each connection's IO, plain TCP or TLS ([`crate::server`]).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The default client timeout, as nginx's `client_header_timeout`/`client_body_timeout`.
pub const DEFAULT_CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// A connection's IO with the idle clock. Progress only records the time (cheap on every
/// read and write); the timer is re-armed lazily, when the connection waits.
pub struct Idle<S> {
    inner: S,
    timeout: Duration,
    last_progress: Instant,
    timer: Pin<Box<Sleep>>,
}

impl<S> Idle<S> {
    pub(crate) fn new(inner: S, timeout: Duration) -> Self {
        let now = Instant::now();
        Idle {
            inner,
            timeout,
            last_progress: now,
            timer: Box::pin(tokio::time::sleep_until(now + timeout)),
        }
    }

    /// A write's outcome: bytes written are progress; not ready waits on the clock.
    fn wrote(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match polled {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.last_progress = Instant::now();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Pending => self.poll_idle(cx).map(Err),
            other => other,
        }
    }

    /// Called when the inner IO is not ready: Ready(error) once the connection has been
    /// idle for the timeout, else Pending with the timer armed for the deadline.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let deadline = self.last_progress + self.timeout;
        if self.timer.deadline() != deadline {
            self.timer.as_mut().reset(deadline);
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "no data moved for {}s: closing the connection",
                    self.timeout.as_secs()
                ),
            )),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Idle<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.last_progress = Instant::now();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => this.poll_idle(cx).map(Err),
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Idle<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, data);
        this.wrote(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.wrote(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Pending => this.poll_idle(cx).map(Err),
            other => other,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_times_out_and_a_moving_one_does_not() {
        let (ours, mut theirs) = tokio::io::duplex(64);
        let mut idle = Idle::new(ours, Duration::from_secs(10));
        let mut buf = [0u8; 8];
        // Bytes every 6 s: never 10 s without progress.
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_secs(6)).await;
            theirs.write_all(b"x").await.unwrap();
            assert_eq!(idle.read(&mut buf).await.unwrap(), 1);
        }
        // Then silence.
        let err = idle.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_stops_reading_times_out() {
        let (ours, _theirs) = tokio::io::duplex(16);
        let mut idle = Idle::new(ours, Duration::from_secs(10));
        // The first 16 bytes fit the pipe; then nobody reads.
        let err = idle.write_all(&[0u8; 64]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }
}
