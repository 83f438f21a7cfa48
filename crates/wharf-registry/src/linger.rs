//! Lingering close. When the server closes a connection whose client is still sending (a
//! request body the server answered early and gave up reading), closing the socket with
//! unread bytes in its receive buffer makes the kernel send a RST, and a RST discards the
//! response the client has not read yet: the client sees "connection reset" instead of the
//! answer, even one that said `Connection: close`. So, as Apache and nginx
//! (`lingering_close`) do, shutting a connection down sends FIN first and then reads and
//! discards what still arrives, until the client closes too or a short bound passes.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// How long a closing connection keeps reading after its FIN (nginx: `lingering_time` 30s,
/// `lingering_timeout` 5s; a client that read its answer closes within a round trip).
pub(crate) const LINGER_TIME: Duration = Duration::from_secs(2);
/// How many bytes a closing connection reads and discards at most.
const LINGER_BYTES: u64 = 16 << 20;

/// An IO whose shutdown lingers.
pub(crate) struct Linger<S> {
    inner: S,
    closing: Option<Box<Closing>>,
}

struct Closing {
    write_shut: bool,
    scratch: Box<[u8]>,
    left: u64,
    deadline: Pin<Box<Sleep>>,
}

impl<S> Linger<S> {
    pub(crate) fn new(inner: S) -> Self {
        Linger {
            inner,
            closing: None,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Linger<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Linger<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let closing = this.closing.get_or_insert_with(|| {
            Box::new(Closing {
                write_shut: false,
                scratch: vec![0; 16 * 1024].into_boxed_slice(),
                left: LINGER_BYTES,
                deadline: Box::pin(tokio::time::sleep(LINGER_TIME)),
            })
        });
        if !closing.write_shut {
            ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
            closing.write_shut = true;
        }
        loop {
            let mut buf = ReadBuf::new(&mut closing.scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => {
                    closing.left = closing.left.saturating_sub(buf.filled().len() as u64);
                    if closing.left == 0 {
                        return Poll::Ready(Ok(()));
                    }
                }
                // The peer reset or went away: nothing left to protect.
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Pending => {
                    ready!(closing.deadline.as_mut().poll(cx));
                    return Poll::Ready(Ok(()));
                }
            }
        }
    }
}
