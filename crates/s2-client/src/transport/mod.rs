//! Connection management: a pool of multiplexed HTTP/2 connections per
//! endpoint host, opened on demand and replaced when they fail, go away,
//! time out or sit idle.
//!
//! Every request in flight holds a [`Lease`] on its connection, unary calls
//! and sessions alike; a session keeps its lease for as long as its stream
//! lives. A connection takes requests up to its limit: the peer's
//! `SETTINGS_MAX_CONCURRENT_STREAMS`, capped by
//! [`ClientConfig::max_concurrent_requests_per_connection`]. When every
//! connection to a host is at its limit, the pool opens a sibling rather
//! than let the request queue behind long-lived sessions: unary calls are
//! never starved by sessions. Siblings are dialled side by side as demand
//! requires: a caller that finds no room takes a seat in a connection
//! attempt under way, each attempt seating as many callers as a new
//! connection is expected to take, and seated callers get their places on
//! the new connection before anyone else can see it.
//!
//! A connection stops taking new requests when hyper reports it closed
//! (errors, a GOAWAY from the server) or when it is *evicted*: a unary call
//! on it timed out, or a session driver found it dead or was advised to
//! leave it ([`ConnectionHandle::evict`]). Its requests in flight finish on
//! it; later requests go to another connection. A connection with no
//! request for [`IDLE_TIMEOUT`] is closed even though keepalive pings still
//! succeed, and the host's entry is dropped once its last connection is
//! gone.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use futures_channel::oneshot;
use http_body_util::{BodyExt, Limited};
use s2_core::{
    Error,
    api::{HttpRequest, HttpResponse, MAX_RESPONSE_BODY_BYTES},
    error::ProtocolError,
    error::Sent,
};

mod connection;

pub(crate) use connection::{Checkout, ConnectionHandle, Lease};
use connection::{Connection, ConnectionState};

use crate::{
    body::RequestBody,
    config::ClientConfig,
    runtime::{Runtime, timeout},
    sync::Mutex,
};

/// How long a connection may go without a request before it is closed.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// How connections to a host are made: over TLS (`https`) or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Scheme {
    /// Plain TCP (`http`, for a local server such as s2-lite).
    Http,
    /// TLS, with ALPN `h2`.
    Https,
}

impl Scheme {
    /// The port of a URI that names none.
    fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
        }
    }
}

/// An endpoint host, which has a pool of connections of its own: the
/// same authority over TLS and not are two hosts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct HostKey {
    scheme: Scheme,
    /// Host and port as the URI spells them.
    authority: String,
}

/// The pools of one client, shared with connection tasks so a closed
/// connection can remove itself.
type Hosts = Mutex<HashMap<HostKey, HostPool>>;

/// The HTTP/2 connections of one client.
///
/// Cheap to clone: a connection attempt runs in a task of its own with a
/// clone, so that it makes progress whether or not the caller that started
/// it is still polled (a caller parked in a `select!` must not hold up every
/// other request to the host).
#[derive(Clone)]
pub(crate) struct Transport<R: Runtime> {
    runtime: R,
    config: Arc<ClientConfig>,
    tls: Arc<rustls::ClientConfig>,
    hosts: Arc<Hosts>,
    idle_timeout: Duration,
    next_connection: Arc<AtomicU64>,
    /// Numbers connection attempts.
    next_dial: Arc<AtomicU64>,
    /// Set by [`close`](Self::close): no request goes out any more.
    closed: Arc<AtomicBool>,
}

/// The connections to one host.
#[derive(Default)]
struct HostPool {
    /// Open connections, oldest first; new requests go to the first one
    /// with room, so the newest ones empty out and close when idle.
    connections: Vec<Connection>,
    /// Connection attempts under way: a caller that finds no room takes a
    /// seat in one with a seat free, or starts another, so that a burst of
    /// requests opens as many connections as it needs at once.
    dials: Vec<PendingDial>,
}

impl HostPool {
    /// Removes attempt `id`, returning the callers seated in it (none if
    /// it is gone).
    fn take_dial(&mut self, id: u64) -> Vec<oneshot::Sender<Seat>> {
        match self.dials.iter().position(|d| d.id == id) {
            Some(i) => self.dials.swap_remove(i).waiters,
            None => Vec::new(),
        }
    }
}

/// A connection attempt under way and the callers seated in it.
struct PendingDial {
    /// Tells the attempt apart from the others to the same host.
    id: u64,
    /// Places the new connection is expected to have: as many callers wait
    /// for it, and the next one starts another attempt.
    seats: usize,
    /// The callers seated, in arrival order: each gets a place on the new
    /// connection while it has room.
    waiters: Vec<oneshot::Sender<Seat>>,
}

impl PendingDial {
    /// Whether a caller may take a seat (those that gave up free theirs).
    fn has_free_seat(&mut self) -> bool {
        self.waiters.retain(|w| !w.is_canceled());
        self.waiters.len() < self.seats
    }
}

/// What a seated caller gets when its connection attempt ends.
enum Seat {
    /// A place on the new connection, taken for it before anyone else
    /// could see the connection.
    Taken(Checkout),
    /// The new connection had no room left for this caller; `added`: it
    /// had room for callers seated earlier.
    Full { added: bool },
    /// The attempt failed.
    Failed(Error),
}

/// Where a connection goes.
#[derive(Clone)]
struct Dial {
    host: String,
    port: u16,
    scheme: Scheme,
}

/// The host of `uri`, and where its connections go.
fn host_of(uri: &http::Uri) -> Result<(HostKey, Dial), Error> {
    let scheme = if uri.scheme() == Some(&http::uri::Scheme::HTTPS) {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let authority = uri
        .authority()
        .ok_or_else(|| Error::transport(Sent::No, "request URI has no host"))?;
    let key = HostKey {
        scheme,
        authority: authority.to_string(),
    };
    let dial = Dial {
        host: authority.host().to_owned(),
        port: authority.port_u16().unwrap_or(scheme.default_port()),
        scheme,
    };
    Ok((key, dial))
}

/// What [`Transport::try_checkout`] found.
enum Room {
    /// A place on a connection with room.
    Taken(Checkout),
    /// No room: a seat in a connection attempt.
    Seated {
        seat: oneshot::Receiver<Seat>,
        /// The id of the attempt when it is a new one, which the caller
        /// starts; `None` for a seat in one under way.
        start_dial: Option<u64>,
    },
}

/// Connection attempts in a row that add no usable room after which a
/// checkout gives up: connections close as fast as they open (or their
/// attempts are dropped unfinished). An attempt whose room went to the
/// callers seated before this one is progress, and does not count.
const MAX_FRUITLESS_ATTEMPTS: usize = 3;

impl<R: Runtime> Transport<R> {
    pub(crate) fn new(runtime: R, config: Arc<ClientConfig>) -> Result<Self, Error> {
        let tls = crate::tls::client_config(&config)?;
        Ok(Self {
            runtime,
            config,
            tls,
            hosts: Arc::new(Mutex::new(HashMap::new())),
            idle_timeout: IDLE_TIMEOUT,
            next_connection: Arc::new(AtomicU64::new(0)),
            next_dial: Arc::new(AtomicU64::new(0)),
            closed: Arc::new(AtomicBool::new(false)),
        })
    }

    pub(crate) fn runtime(&self) -> &R {
        &self.runtime
    }

    /// Refuses every later request with [`Error::Closed`] and closes the
    /// pooled connections once the requests on them are done; an attempt
    /// still dialling shuts its connection down when it ends.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let hosts = std::mem::take(&mut *self.hosts.lock());
        for connection in hosts.values().flat_map(|pool| &pool.connections) {
            connection.state.evict();
        }
    }

    /// A place for one request on a connection to the host of `uri` with
    /// room for it, connecting if every connection is full (or there is
    /// none). Callers that find no room take seats in connection attempts,
    /// as many as a new connection is expected to take each; each attempt
    /// runs in its own task.
    pub(crate) async fn checkout(&self, uri: &http::Uri) -> Result<Checkout, Error> {
        let (key, dial) = host_of(uri)?;
        let mut fruitless = 0;
        loop {
            if self.closed.load(Ordering::Acquire) {
                return Err(client_closed());
            }
            let seat = match self.try_checkout(&key) {
                Room::Taken(checkout) => return Ok(checkout),
                Room::Seated {
                    seat,
                    start_dial: None,
                } => seat,
                Room::Seated {
                    seat,
                    start_dial: Some(id),
                } => {
                    self.spawn_dial(key.clone(), dial.clone(), id);
                    seat
                }
            };
            let dropped = match seat.await {
                Ok(Seat::Taken(checkout)) => return Ok(checkout),
                Ok(Seat::Failed(e)) => return Err(e),
                // The callers seated first took the room it added: look
                // again (the next attempt expects that much room).
                Ok(Seat::Full { added: true }) => {
                    fruitless = 0;
                    continue;
                }
                Ok(Seat::Full { added: false }) => false,
                // The attempt was abandoned: the client closed, or its task
                // was dropped unfinished.
                Err(oneshot::Canceled) => true,
            };
            fruitless += 1;
            if fruitless >= MAX_FRUITLESS_ATTEMPTS {
                let why = if dropped {
                    "connection attempts were dropped before they finished"
                } else {
                    "connections closed or filled up as fast as they opened"
                };
                let authority = &key.authority;
                return Err(Error::transport(Sent::No, format!("{authority}: {why}")));
            }
        }
    }

    /// Opens a connection to `dial` in a task of its own, for attempt `id`
    /// to `key`.
    fn spawn_dial(&self, key: HostKey, dial: Dial, id: u64) {
        // Held by the task from the start: dropped with it, polled or not.
        let guard = DialGuard {
            transport: self.clone(),
            key,
            id,
            ended: false,
        };
        self.runtime.spawn(Box::pin(async move {
            let result = guard.transport.connect(&dial, guard.key.clone()).await;
            guard.end(result);
        }));
    }

    /// Ends attempt `id` to `key`: the new connection joins the pool, its
    /// seated callers first taking places on it in turn while it has room;
    /// or they all fail with the attempt.
    fn dialled(&self, key: &HostKey, id: u64, result: Result<Connection, Error>) {
        let mut hosts = self.hosts.lock();
        // Read under the lock `close` takes the pools with: an attempt that
        // ends after it must not leave a connection open in a fresh pool.
        if self.closed.load(Ordering::Acquire) {
            let seated = hosts.get_mut(key).map(|pool| pool.take_dial(id));
            if hosts
                .get(key)
                .is_some_and(|pool| pool.connections.is_empty() && pool.dials.is_empty())
            {
                hosts.remove(key);
            }
            drop(hosts);
            if let Ok(fresh) = result {
                fresh.state.evict();
            }
            for waiter in seated.into_iter().flatten() {
                let _ = waiter.send(Seat::Failed(client_closed()));
            }
            return;
        }
        let pool = hosts.entry(key.clone()).or_default();
        let waiters = pool.take_dial(id);
        match result {
            Ok(fresh) => {
                let now = self.runtime.now();
                let mut added = false;
                for waiter in waiters.into_iter().filter(|w| !w.is_canceled()) {
                    let seat = if fresh.usable() && fresh.has_room() {
                        added = true;
                        Seat::Taken(fresh.checkout(now))
                    } else {
                        Seat::Full { added }
                    };
                    // A caller that just gave up: its place (the lease) is
                    // given back as the seat is dropped.
                    let _ = waiter.send(seat);
                }
                pool.connections.push(fresh);
            }
            Err(e) => {
                for waiter in waiters {
                    let _ = waiter.send(Seat::Failed(e.clone()));
                }
                if pool.connections.is_empty() && pool.dials.is_empty() {
                    hosts.remove(key);
                }
            }
        }
    }

    /// Withdraws attempt `id` to `key`, whose task was dropped unfinished:
    /// its seated callers look again (their seats are dropped), and later
    /// callers do not wait on an attempt that will never end.
    fn abandon(&self, key: &HostKey, id: u64) {
        let mut hosts = self.hosts.lock();
        let Some(pool) = hosts.get_mut(key) else {
            return;
        };
        let seated = pool.take_dial(id);
        if pool.connections.is_empty() && pool.dials.is_empty() {
            hosts.remove(key);
        }
        drop(hosts);
        drop(seated);
    }

    /// A place on a connection of `key` that has room, or a seat in a
    /// connection attempt (one the caller starts if every attempt's seats
    /// are taken). Drops connections that take no new requests: they close
    /// on their own once their streams end. A host gets an entry only with
    /// a connection or an attempt, so no caller leaves an empty one behind.
    fn try_checkout(&self, key: &HostKey) -> Room {
        let mut hosts = self.hosts.lock();
        let pool = hosts.entry(key.clone()).or_default();
        pool.connections.retain(Connection::usable);
        if let Some(connection) = pool.connections.iter().find(|c| c.has_room()) {
            return Room::Taken(connection.checkout(self.runtime.now()));
        }
        let (seat, waiting) = oneshot::channel();
        if let Some(dial) = pool
            .dials
            .iter_mut()
            .find_map(|d| d.has_free_seat().then_some(d))
        {
            dial.waiters.push(seat);
            return Room::Seated {
                seat: waiting,
                start_dial: None,
            };
        }
        // A new connection is expected to take what the newest one does
        // (the peer's limit, once known), or the configured cap.
        let seats = pool.connections.last().map_or(
            self.config.max_concurrent_requests_per_connection(),
            Connection::capacity,
        );
        let id = self.next_dial.fetch_add(1, Ordering::Relaxed);
        pool.dials.push(PendingDial {
            id,
            seats,
            waiters: vec![seat],
        });
        Room::Seated {
            seat: waiting,
            start_dial: Some(id),
        }
    }

    /// Sends a unary request and collects its response within the request
    /// timeout plus `allowance` (the time the service may hold the request
    /// on purpose, such as a read's long-poll `wait`). A timed-out call
    /// evicts its connection: a peer that keeps a connection alive but
    /// never answers must not stall every later call.
    pub(crate) async fn send(
        &self,
        request: &HttpRequest,
        allowance: Duration,
    ) -> Result<HttpResponse, Error> {
        let deadline = self.config.request_timeout().saturating_add(allowance);
        let used: Mutex<Option<ConnectionHandle>> = Mutex::new(None);
        let exchange = async {
            let checkout = self.checkout(&request.uri).await?;
            *used.lock() = Some(checkout.connection());
            let body = RequestBody::full(request.body.clone());
            let (response, _lease) = checkout.send(request, body).await?;
            let (parts, body) = response.into_parts();
            let body = collect_limited(body).await?;
            Ok(HttpResponse {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        match timeout(&self.runtime, deadline, exchange).await {
            Some(result) => result,
            None => match used.lock().take() {
                Some(connection) => {
                    connection.evict();
                    Err(Error::Timeout(deadline))
                }
                // It never reached a connection: provably not sent.
                None => Err(Error::transport(
                    Sent::No,
                    format!("no connection to {} within {deadline:?}", request.uri),
                )),
            },
        }
    }

    /// Hosts with an entry in the connection map (for tests).
    #[cfg(test)]
    fn host_count(&self) -> usize {
        self.hosts.lock().len()
    }

    /// Connections in the pool of every host (for tests).
    #[cfg(test)]
    fn connection_count(&self) -> usize {
        let hosts = self.hosts.lock();
        hosts.values().map(|pool| pool.connections.len()).sum()
    }
}

/// A connection attempt's task holds this from the start, so that the
/// attempt ends in the pool even when the task is dropped unfinished (its
/// runtime shut down, or a custom runtime dropped it).
struct DialGuard<R: Runtime> {
    transport: Transport<R>,
    key: HostKey,
    id: u64,
    ended: bool,
}

impl<R: Runtime> DialGuard<R> {
    /// The attempt finished with `result`.
    fn end(mut self, result: Result<Connection, Error>) {
        self.ended = true;
        self.transport.dialled(&self.key, self.id, result);
    }
}

impl<R: Runtime> Drop for DialGuard<R> {
    fn drop(&mut self) {
        if !self.ended {
            self.transport.abandon(&self.key, self.id);
        }
    }
}

/// Removes `closed` from the pool of `key`, then the pool itself if no
/// connection is left and nobody is connecting.
fn forget(hosts: &Hosts, key: &HostKey, closed: &Arc<ConnectionState>) {
    let mut hosts = hosts.lock();
    let Some(pool) = hosts.get_mut(key) else {
        return;
    };
    pool.connections.retain(|c| !Arc::ptr_eq(&c.state, closed));
    // An attempt under way adds its connection to this entry.
    if pool.connections.is_empty() && pool.dials.is_empty() {
        hosts.remove(key);
    }
}

/// The error of a request refused because the client is closed: refused
/// before a connection is chosen, so nothing was sent.
fn client_closed() -> Error {
    Error::Closed {
        sent: false,
        reason: "the client is closed".into(),
    }
}

/// Reads a whole response body, refusing more than the response limit.
pub(crate) async fn collect_limited(body: hyper::body::Incoming) -> Result<Bytes, Error> {
    match Limited::new(body, MAX_RESPONSE_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ProtocolError::BodyTooLarge {
            limit: MAX_RESPONSE_BODY_BYTES,
        }
        .into()),
        Err(e) => Err(Error::transport(Sent::Maybe, e)),
    }
}

#[cfg(test)]
mod tests;
