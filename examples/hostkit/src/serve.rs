//! Serving a router with the connection limits `axum::serve` lacks: a header-read timeout, a
//! keep-alive idle timeout and a cap on open connections. Without them, clients that connect
//! and send nothing, half a request head, or nothing after their last request hold a file
//! descriptor each for as long as they like, and a few hundred of them starve everyone else.
//!
//! At the cap, a new connection is still accepted and the connection that has been waiting
//! longest for a request (one with no request in flight) is closed to make room, as nginx
//! reuses its idle keep-alive connections: so a host stays reachable however many idle
//! connections are open. Only when every connection is busy with a request does the host stop
//! accepting until one finishes.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::http::{Request, Response};
use axum::Router;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tower::ServiceExt;

/// How long clients may take and how many connections may be open.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConnectionLimits {
    /// The longest a request head (request line and headers) may take to arrive: counted from
    /// the accept for a connection's first request, and from the request's first byte after
    /// that.
    pub header_read_timeout: Duration,
    /// How long a connection may wait for its next request without receiving a byte of it.
    pub idle_timeout: Duration,
    /// Connections open at once; see the module comment for what happens at the cap.
    pub max_connections: usize,
}

/// Seconds a request head may take by default.
pub const DEFAULT_HEADER_READ_TIMEOUT_S: u64 = 10;
/// Seconds a keep-alive connection may idle by default: longer than clients keep idle
/// connections in their pools (ureq: 15 s), so the host rarely closes one a client is
/// about to reuse.
pub const DEFAULT_IDLE_TIMEOUT_S: u64 = 60;
/// The most connections a host keeps open by default (less where the open-file limit is
/// low; see [`default_max_connections`]).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(DEFAULT_HEADER_READ_TIMEOUT_S),
            idle_timeout: Duration::from_secs(DEFAULT_IDLE_TIMEOUT_S),
            max_connections: default_max_connections(),
        }
    }
}

/// Half the open-file limit (the other half is for the host's own files, spool and database
/// connections), at most [`DEFAULT_MAX_CONNECTIONS`] and at least 1.
pub fn default_max_connections() -> usize {
    DEFAULT_MAX_CONNECTIONS.min(connections_that_fit())
}

/// The cap to use for a configured `max_connections`: never more than half the open-file
/// limit. `Err` carries the lowered cap and a note saying why, for the host to print.
pub fn fit_max_connections(configured: usize) -> Result<usize, (usize, String)> {
    let fits = connections_that_fit();
    if configured <= fits {
        Ok(configured)
    } else {
        Err((
            fits,
            format!(
                "max_connections {configured} lowered to {fits}: half the open-file limit \
                 (ulimit -n) is kept for the host's own files"
            ),
        ))
    }
}

fn connections_that_fit() -> usize {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    limit
        .map_or(usize::MAX, |n| usize::try_from(n / 2).unwrap_or(usize::MAX))
        .max(1)
}

/// Serve `router` on `listener` within `limits` until `shutdown` completes; then stop
/// accepting, close the connections that wait for a request, let those with a request in
/// flight finish it, and return once every connection is closed. `name` prefixes log lines.
pub async fn serve(
    name: &'static str,
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let registry = Arc::new(Registry::default());
    let (stop, stopping) = watch::channel(false);
    let mut told_fd_limit = false;
    tokio::pin!(shutdown);
    loop {
        // Every connection busy with a request: wait for one to finish or go idle.
        if registry.open() >= limits.max_connections && !registry.has_idle() {
            let changed = registry.changed.notified();
            if registry.open() >= limits.max_connections && !registry.has_idle() {
                tokio::select! {
                    () = changed => continue,
                    () = &mut shutdown => break,
                }
            }
        }
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    if is_out_of_files(&e) {
                        if !told_fd_limit {
                            told_fd_limit = true;
                            eprintln!(
                                "{name}: cannot accept a connection ({e}); closing idle ones \
                                 (lower max_connections or raise the open-file limit)"
                            );
                        }
                        // Let the evicted connection's task close its socket before the
                        // next try; with nothing to evict, wait for one to end.
                        if registry.evict_longest_idle(None) {
                            tokio::task::yield_now().await;
                        } else {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    } else if !is_per_connection(&e) {
                        // A lasting failure (ENOBUFS, ENOMEM...) would otherwise spin this loop.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = registry.add();
        if registry.open() > limits.max_connections {
            registry.evict_longest_idle(Some(connection.id));
        }
        tokio::spawn(drive(
            stream,
            router.clone(),
            connection,
            registry.clone(),
            limits,
            stopping.clone(),
        ));
    }
    // New connections are refused from here on.
    drop(listener);
    let _ = stop.send(true);
    loop {
        let changed = registry.changed.notified();
        if registry.is_empty() {
            return Ok(());
        }
        changed.await;
    }
}

/// Accept errors that concern only the connection being accepted (it was reset or aborted
/// before we took it): the next accept may well succeed at once.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

fn is_out_of_files(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(code) if code == rustix::io::Errno::MFILE.raw_os_error()
            || code == rustix::io::Errno::NFILE.raw_os_error()
    )
}

/// Serve one connection until it ends, times out, is evicted, or shutdown closes it.
async fn drive(
    stream: TcpStream,
    router: Router,
    connection: Arc<Connection>,
    registry: Arc<Registry>,
    limits: ConnectionLimits,
    mut stopping: watch::Receiver<bool>,
) {
    let io = TokioIo::new(Watched {
        stream,
        connection: connection.clone(),
    });
    let service = Tracked {
        router,
        connection: connection.clone(),
        registry: registry.clone(),
    };
    // hyper's own header timer starts when a connection is ready for its next request, so it
    // would also close idle connections; the timers here tell idling from a slow head.
    let mut served = Box::pin(
        http1::Builder::new()
            .keep_alive(true)
            .header_read_timeout(None)
            .serve_connection(io, service),
    );
    let mut draining = false;
    loop {
        if connection.evicted.load(Ordering::Acquire) {
            break;
        }
        let changed = connection.changed.notified();
        let deadline = connection.deadline(&limits);
        tokio::select! {
            _ = served.as_mut() => break,
            () = changed => {}
            () = sleep_until(deadline) => {
                if connection.deadline(&limits).is_some_and(|d| d <= Instant::now()) {
                    break;
                }
            }
            _ = stopping.wait_for(|stop| *stop), if !draining => {
                if connection.idle() {
                    break;
                }
                draining = true;
                served.as_mut().graceful_shutdown();
            }
        }
    }
    // Dropping the connection closes the socket.
    drop(served);
    registry.remove(connection.id);
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The open connections, so the accept loop can find one to close at the cap.
#[derive(Default)]
struct Registry {
    connections: Mutex<HashMap<u64, Arc<Connection>>>,
    next_id: AtomicU64,
    /// A connection closed or stopped having a request in flight.
    changed: Notify,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<Connection>>> {
        self.connections.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn add(&self) -> Arc<Connection> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let connection = Arc::new(Connection::new(id));
        self.lock().insert(id, connection.clone());
        connection
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
        self.changed.notify_one();
    }

    /// Connections not already told to close.
    fn open(&self) -> usize {
        self.lock()
            .values()
            .filter(|c| !c.evicted.load(Ordering::Acquire))
            .count()
    }

    fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn has_idle(&self) -> bool {
        self.lock()
            .values()
            .any(|c| !c.evicted.load(Ordering::Acquire) && c.idle())
    }

    /// Close the connection that has waited longest for a request (never `spare`); false
    /// when every connection has a request in flight.
    fn evict_longest_idle(&self, spare: Option<u64>) -> bool {
        let connections = self.lock();
        let victim = connections
            .values()
            .filter(|c| Some(c.id) != spare && !c.evicted.load(Ordering::Acquire))
            .filter_map(|c| c.waiting_since().map(|since| (since, c)))
            .min_by_key(|(since, c)| (*since, c.id))
            .map(|(_, c)| c.clone());
        drop(connections);
        match victim {
            Some(c) => {
                c.evicted.store(true, Ordering::Release);
                c.changed.notify_one();
                true
            }
            None => false,
        }
    }
}

/// One connection's state, shared by its task, its socket wrapper and its requests.
struct Connection {
    id: u64,
    phase: Mutex<Phase>,
    /// The phase changed or the connection was evicted: its task recomputes its deadline.
    changed: Notify,
    evicted: AtomicBool,
}

struct Phase {
    in_flight: usize,
    /// Accepted, or the last response finished.
    waiting_since: Instant,
    /// The first byte of the next request arrived (while none was in flight).
    head_started: Option<Instant>,
    requests: u64,
}

impl Connection {
    fn new(id: u64) -> Connection {
        Connection {
            id,
            phase: Mutex::new(Phase {
                in_flight: 0,
                waiting_since: Instant::now(),
                head_started: None,
                requests: 0,
            }),
            changed: Notify::new(),
            evicted: AtomicBool::new(false),
        }
    }

    fn phase(&self) -> MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn idle(&self) -> bool {
        self.phase().in_flight == 0
    }

    fn waiting_since(&self) -> Option<Instant> {
        let phase = self.phase();
        (phase.in_flight == 0).then_some(phase.waiting_since)
    }

    /// When the connection is to be closed unless a request head completes first.
    fn deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        let phase = self.phase();
        if phase.in_flight > 0 {
            None
        } else if phase.requests == 0 {
            Some(phase.waiting_since + limits.header_read_timeout)
        } else if let Some(started) = phase.head_started {
            Some(started + limits.header_read_timeout)
        } else {
            Some(phase.waiting_since + limits.idle_timeout)
        }
    }

    fn bytes_read(&self) {
        let mut phase = self.phase();
        if phase.in_flight == 0 && phase.head_started.is_none() {
            phase.head_started = Some(Instant::now());
            drop(phase);
            self.changed.notify_one();
        }
    }

    fn request_started(&self) {
        let mut phase = self.phase();
        phase.in_flight += 1;
        phase.requests += 1;
        phase.head_started = None;
        drop(phase);
        self.changed.notify_one();
    }

    fn request_finished(&self) {
        let mut phase = self.phase();
        phase.in_flight = phase.in_flight.saturating_sub(1);
        if phase.in_flight == 0 {
            phase.waiting_since = Instant::now();
            phase.head_started = None;
        }
        drop(phase);
        self.changed.notify_one();
    }
}

/// The socket, telling its connection when request bytes arrive.
struct Watched {
    stream: TcpStream,
    connection: Arc<Connection>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.connection.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The router as hyper calls it, marking each request in flight until its response body
/// has been sent (a stream's body lasts as long as the stream).
struct Tracked {
    router: Router,
    connection: Arc<Connection>,
    registry: Arc<Registry>,
}

impl hyper::service::Service<Request<Incoming>> for Tracked {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        self.connection.request_started();
        let in_flight = InFlight {
            connection: self.connection.clone(),
            registry: self.registry.clone(),
        };
        let router = self.router.clone();
        Box::pin(async move {
            let response = router.oneshot(request.map(Body::new)).await?;
            Ok(response.map(|body| {
                Body::new(Guarded {
                    body,
                    _in_flight: in_flight,
                })
            }))
        })
    }
}

/// Ends a request's time in flight when dropped, however the request ends.
struct InFlight {
    connection: Arc<Connection>,
    registry: Arc<Registry>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.connection.request_finished();
        self.registry.changed.notify_one();
    }
}

/// A response body that holds its request's [`InFlight`] until hyper drops it (sent or
/// abandoned).
struct Guarded {
    body: Body,
    _in_flight: InFlight,
}

impl HttpBody for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::{oneshot, Semaphore};

    const HEAD: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    const SLOW: &[u8] = b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n";

    struct Server {
        addr: std::net::SocketAddr,
        stop: oneshot::Sender<()>,
        task: tokio::task::JoinHandle<io::Result<()>>,
        /// A permit each time `/slow` starts.
        entered: Arc<Semaphore>,
        /// `/slow` answers once it gets a permit here.
        release: Arc<Semaphore>,
    }

    async fn start(max_connections: usize) -> Server {
        let limits = ConnectionLimits {
            header_read_timeout: Duration::from_secs(600),
            idle_timeout: Duration::from_secs(600),
            max_connections,
        };
        let entered = Arc::new(Semaphore::new(0));
        let release = Arc::new(Semaphore::new(0));
        let (enter, gate) = (entered.clone(), release.clone());
        let router = Router::new().route("/", get(|| async { "ok" })).route(
            "/slow",
            get(move || async move {
                enter.add_permits(1);
                let _permit = gate.acquire().await;
                "slow ok"
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve("test", listener, router, limits, async {
            let _ = stopped.await;
        }));
        Server {
            addr,
            stop,
            task,
            entered,
            release,
        }
    }

    /// Everything the peer sends until it closes.
    async fn read_to_close(stream: &mut TcpStream) -> String {
        let mut out = Vec::new();
        let _ = stream.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    async fn read_some(stream: &mut TcpStream) -> String {
        let mut buf = vec![0u8; 1024];
        let n = stream.read(&mut buf).await.unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    async fn ask(stream: &mut TcpStream) -> String {
        stream.write_all(HEAD).await.unwrap();
        read_some(stream).await
    }

    #[tokio::test]
    async fn at_the_cap_the_longest_idle_connection_makes_room() {
        let server = start(2).await;
        let mut oldest = TcpStream::connect(server.addr).await.unwrap();
        assert!(ask(&mut oldest).await.starts_with("HTTP/1.1 200"));
        let mut newer = TcpStream::connect(server.addr).await.unwrap();
        assert!(ask(&mut newer).await.starts_with("HTTP/1.1 200"));
        let mut third = TcpStream::connect(server.addr).await.unwrap();
        assert!(ask(&mut third).await.starts_with("HTTP/1.1 200"));
        assert_eq!(read_to_close(&mut oldest).await, "");
        assert!(ask(&mut newer).await.starts_with("HTTP/1.1 200"));
    }

    #[tokio::test]
    async fn a_connection_with_a_request_in_flight_is_never_evicted() {
        let server = start(1).await;
        let mut busy = TcpStream::connect(server.addr).await.unwrap();
        busy.write_all(SLOW).await.unwrap();
        server.entered.acquire().await.unwrap().forget();
        // At the cap with nothing to evict: the newcomer waits in the backlog.
        let mut waiting = TcpStream::connect(server.addr).await.unwrap();
        waiting.write_all(HEAD).await.unwrap();
        server.release.add_permits(1);
        let answer = read_some(&mut busy).await;
        assert!(answer.contains("slow ok"), "{answer}");
        // Once idle, it makes room for the newcomer.
        assert!(read_some(&mut waiting).await.starts_with("HTTP/1.1 200"));
    }

    #[tokio::test]
    async fn shutdown_closes_idle_connections_and_finishes_requests_in_flight() {
        let server = start(16).await;
        let mut idle = TcpStream::connect(server.addr).await.unwrap();
        assert!(ask(&mut idle).await.starts_with("HTTP/1.1 200"));
        let mut half = TcpStream::connect(server.addr).await.unwrap();
        half.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        let mut busy = TcpStream::connect(server.addr).await.unwrap();
        busy.write_all(SLOW).await.unwrap();
        server.entered.acquire().await.unwrap().forget();
        server.stop.send(()).unwrap();
        assert_eq!(read_to_close(&mut idle).await, "");
        assert_eq!(read_to_close(&mut half).await, "");
        server.release.add_permits(1);
        let answer = read_to_close(&mut busy).await;
        assert!(answer.contains("slow ok"), "{answer}");
        server.task.await.unwrap().unwrap();
        assert!(TcpStream::connect(server.addr).await.is_err());
    }
}
