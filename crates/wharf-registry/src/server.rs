//! The accept loop and each connection's life: socket options, the connection caps
//! ([`crate::limits`]), the TLS handshake, HTTP/1.1 with a deadline for request headers,
//! the body rules of [`crate::request_body`], the idle timeout ([`crate::idle`]), a
//! lingering close ([`crate::linger`]), and a graceful shutdown with a deadline.
//!
//! Our own loop instead of `axum::serve`, which has no header deadline, no caps, no
//! `TCP_NODELAY` and waits for the last connection forever on shutdown.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::idle::Idle;
use crate::limits::{Slot, Slots};
use crate::linger::Linger;
use crate::request_body::{self, Pace};
use crate::Serving;

/// A TLS handshake that takes longer than this is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts one connection and sets it up for serving: `TCP_NODELAY`, because responses
/// are written as a head and then a body, and with Nagle's algorithm the body of a small
/// blob waits for the client's delayed ACK of the head (40 ms a request on Linux).
pub(crate) async fn accept(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    let (stream, peer) = listener.accept().await?;
    stream.set_nodelay(true)?;
    Ok((stream, peer))
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets the requests in flight
/// finish for up to `serving.shutdown_timeout` and drops the connections still open.
pub(crate) async fn run(
    listener: TcpListener,
    app: Router,
    serving: &Serving,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let max_total =
        crate::limits::fitting(serving.max_connections, crate::limits::open_files_limit());
    let slots = Slots::new(max_total, serving.max_connections_per_client);
    let (closing, closed) = watch::channel(false);
    let connection = Arc::new(ConnectionSettings {
        tls: serving.tls.clone().map(tokio_rustls::TlsAcceptor::from),
        client_timeout: serving.client_timeout,
        header_timeout: serving.header_timeout,
        pace: Pace {
            min_rate: serving.body_min_rate,
            grace: serving.client_timeout,
        },
    });
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = accept(&listener) => {
                let (stream, peer) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Out of file descriptors and the like: wait, as axum does.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Some(slot) = slots.take(peer.ip()) else {
                    drop(stream);
                    continue;
                };
                connections.spawn(serve_connection(
                    stream,
                    peer,
                    slot,
                    app.clone(),
                    connection.clone(),
                    closed.clone(),
                ));
            }
        }
    }
    drop(listener);
    let _ = closing.send(true);
    let drained = tokio::time::timeout(serving.shutdown_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "connections still open after the shutdown timeout ({}s): closing them",
            serving.shutdown_timeout.as_secs_f64()
        );
        connections.shutdown().await;
    }
    Ok(())
}

struct ConnectionSettings {
    tls: Option<tokio_rustls::TlsAcceptor>,
    client_timeout: Duration,
    header_timeout: Duration,
    pace: Pace,
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    _slot: Slot,
    app: Router,
    settings: Arc<ConnectionSettings>,
    mut closed: watch::Receiver<bool>,
) {
    let stream = Linger::new(stream);
    match &settings.tls {
        None => {
            let io = Idle::new(stream, settings.client_timeout);
            serve_http(io, peer, app, &settings, closed).await
        }
        Some(tls) => {
            let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream));
            let stream = tokio::select! {
                handshake = handshake => match handshake {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
                },
                _ = closed.wait_for(|closing| *closing) => return,
            };
            let io = Idle::new(stream, settings.client_timeout);
            serve_http(io, peer, app, &settings, closed).await
        }
    }
}

async fn serve_http<I>(
    io: I,
    peer: SocketAddr,
    app: Router,
    settings: &ConnectionSettings,
    mut closed: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let pace = settings.pace;
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let app = app.clone();
        async move { Ok::<_, std::convert::Infallible>(request_body::answer(app, request, pace).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout);
    let connection = builder.serve_connection(TokioIo::new(io), service);
    let mut connection = std::pin::pin!(connection);
    let mut closing = false;
    loop {
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!(%peer, error = %e, "connection ended");
                }
                return;
            }
            _ = closed.wait_for(|closing| *closing), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_sockets_send_small_writes_at_once() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (accepted, _) = accept(&listener).await.unwrap();
        assert!(accepted.nodelay().unwrap(), "TCP_NODELAY is set");
    }
}
