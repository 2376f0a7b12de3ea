//! The accept loop, written out (rather than `axum::serve`) for what a public listener
//! needs on race day: a deadline on a client's request headers (a client that sends half
//! its headers and stops is cut off), each connection's peer address for the client
//! address and rate limits, and a graceful stop: when `stop` fires, no new connection is
//! taken, idle ones close, and each in-flight request is finished first. The caller waits
//! on `connections` with its own deadline.
//!
//! It is also the one place that keeps keep-alive honest (RFC 9112, 9.3 and 9.6): an answer
//! sent before the request body was read whole (413, 408, a refusal before the body) says
//! `Connection: close`, and the connection is then closed gently: our side is shut, and
//! what the client still sends is read and discarded for a short while, so that the kernel
//! does not reset the connection under the answer the client has yet to read.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, header};
use http_body::{Body, Frame, SizeHint};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

pub async fn accept(
    listener: TcpListener,
    router: Router,
    header_timeout: Duration,
    connections: TaskTracker,
    stop: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, typically: wait a little rather than spin.
                tracing::warn!(%error, "could not accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let stop = stop.clone();
        connections.spawn(connection(stream, peer, router, header_timeout, stop));
    }
}

async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Router,
    header_timeout: Duration,
    stop: CancellationToken,
) {
    let linger = Arc::new(AtomicBool::new(false));
    let stream = Lingering {
        stream: Some(stream),
        linger: linger.clone(),
    };
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let linger = linger.clone();
        let (mut parts, body) = request.into_parts();
        parts.extensions.insert(ConnectInfo(peer));
        let (body, read_whole) = ReadWhole::new(body);
        let answer = router
            .clone()
            .oneshot(hyper::Request::from_parts(parts, body));
        async move {
            let mut response = answer.await?;
            if !read_whole.load(Ordering::Acquire) {
                // The rest of the body would be read as the next request: end here.
                linger.store(true, Ordering::Release);
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%error, %peer, "connection ended with an error");
            }
        }
        () = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// A request body that records whether it was read to its end (an empty body is).
struct ReadWhole {
    inner: Incoming,
    done: Arc<AtomicBool>,
}

impl ReadWhole {
    fn new(inner: Incoming) -> (Self, Arc<AtomicBool>) {
        let done = Arc::new(AtomicBool::new(inner.is_end_stream()));
        (
            Self {
                inner,
                done: done.clone(),
            },
            done,
        )
    }
}

impl Body for ReadWhole {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.done.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// How long, and how much, a closed connection's late input is read and thrown away.
const LINGER_FOR: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 4 * 1024 * 1024;

/// A client's stream that, when hyper lets it go after an answer that ended the connection
/// early, is not dropped at once: dropping a socket with unread input makes the kernel send
/// a reset, which can destroy the answer the client has not read yet.
struct Lingering {
    stream: Option<TcpStream>,
    /// Set when an answer went out before its request body was read whole.
    linger: Arc<AtomicBool>,
}

impl Drop for Lingering {
    fn drop(&mut self) {
        if !self.linger.load(Ordering::Acquire) {
            return;
        }
        let Some(stream) = self.stream.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let mut stream = stream;
            // Our side is done: FIN, then take what the client still sends until it closes.
            let _ = tokio::io::AsyncWriteExt::shutdown(&mut stream).await;
            let mut discard = vec![0_u8; 4 * 1024];
            let mut read = 0;
            let _ = tokio::time::timeout(LINGER_FOR, async {
                while read < LINGER_BYTES {
                    match stream.read(&mut discard).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => read += n,
                    }
                }
            })
            .await;
        });
    }
}

impl AsyncRead for Lingering {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.stream.as_mut() {
            Some(stream) => Pin::new(stream).poll_read(cx, buf),
            None => Poll::Ready(Ok(())),
        }
    }
}

impl AsyncWrite for Lingering {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.stream.as_mut() {
            Some(stream) => Pin::new(stream).poll_write(cx, buf),
            None => Poll::Ready(Err(std::io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.stream.as_mut() {
            Some(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            None => Poll::Ready(Err(std::io::ErrorKind::NotConnected.into())),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(|s| s.is_write_vectored())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.stream.as_mut() {
            Some(stream) => Pin::new(stream).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.stream.as_mut() {
            Some(stream) => Pin::new(stream).poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        }
    }
}
