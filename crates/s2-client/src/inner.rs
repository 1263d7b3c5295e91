//! What an [`S2`](crate::S2) client and its [`S2Basin`](crate::S2Basin) and
//! [`S2Stream`](crate::S2Stream) handles share: a leaf that each of them
//! imports, so that they need not import one another.

use std::sync::Arc;

use futures_channel::oneshot;
use futures_util::{FutureExt, future::Shared};
use s2_core::{Error, api::Api, names::RequestToken};

use crate::{config::ClientConfig, runtime::Runtime, sync::Mutex, transport::Transport};

/// State shared by an [`S2`](crate::S2) client and every
/// [`S2Basin`](crate::S2Basin) and [`S2Stream`](crate::S2Stream) handle made from
/// it.
pub(crate) struct ClientInner<R: Runtime> {
    pub(crate) api: Api,
    pub(crate) transport: Transport<R>,
    pub(crate) config: Arc<ClientConfig>,
    /// The append sessions [`S2::close`](crate::S2::close) drains.
    pub(crate) sessions: Sessions,
}

impl<R: Runtime> ClientInner<R> {
    /// Fails with [`Error::Closed`] once the client is closed.
    pub(crate) fn check_open(&self) -> Result<(), Error> {
        if self.sessions.0.lock().closed {
            return Err(client_closed());
        }
        Ok(())
    }
}

/// The error of a call made after [`S2::close`](crate::S2::close): it was
/// refused before anything was sent.
fn client_closed() -> Error {
    Error::Closed {
        sent: false,
        reason: "the client is closed".into(),
    }
}

/// Resolves (cancelled) once the driver of an append session or producer is
/// over; shared by [`S2::close`](crate::S2::close) and the handles, whose
/// close waits for a drain the client started.
pub(crate) type Over = Shared<oneshot::Receiver<()>>;

/// The append sessions and producers of a client that are still running.
#[derive(Default)]
pub(crate) struct Sessions(Mutex<SessionList>);

#[derive(Default)]
struct SessionList {
    closed: bool,
    open: Vec<OpenSession>,
}

/// A running append session or producer, as [`S2::close`](crate::S2::close) sees it.
struct OpenSession {
    /// Stops it taking input; it then finishes what it holds. (A producer's
    /// own session ignores this: it ends once its producer lets go of it.)
    stop: Box<dyn FnOnce() + Send>,
    /// Resolves (cancelled) when its driver is over.
    over: Over,
}

impl Sessions {
    /// Tracks a session or producer until the sender paired with `over` is
    /// dropped; `stop` is called at once when the client is already closed.
    pub(crate) fn register(&self, stop: Box<dyn FnOnce() + Send>, over: Over) {
        let mut list = self.0.lock();
        if list.closed {
            drop(list);
            stop();
            return;
        }
        // Forget the sessions already over, so the list stays as long as
        // the sessions open.
        list.open
            .retain(|session| session.over.clone().now_or_never().is_none());
        list.open.push(OpenSession { stop, over });
    }

    /// Marks the client closed (nothing registers from now on) and stops
    /// every session and producer open, all at once; returns the futures of
    /// their ends.
    pub(crate) fn close(&self) -> Vec<Over> {
        let open = {
            let mut list = self.0.lock();
            list.closed = true;
            std::mem::take(&mut list.open)
        };
        open.into_iter()
            .map(|session| {
                (session.stop)();
                session.over
            })
            .collect()
    }
}

/// A fresh idempotency token for one logical create.
pub(crate) fn new_request_token<R: Runtime>(runtime: &R) -> RequestToken {
    let token = format!("{:016x}{:016x}", runtime.random_u64(), runtime.random_u64());
    RequestToken::new(token).expect("32 hex digits are a valid request token")
}
