//! Where an accepted request goes: a session, or a unary call.

use std::sync::Arc;

use bytes::Bytes;
use h2::{RecvStream, server::SendResponse};
use http::Request;
use s2_client::runtime::Runtime;

use super::{
    Shared, append_session, connection::ConnectionHandle, read_session, respond::Answer,
    route::Route, unary,
};

/// Serves one request to its end.
pub(crate) async fn request<R: Runtime>(
    shared: Arc<Shared<R>>,
    connection: ConnectionHandle,
    request: Request<RecvStream>,
    respond: SendResponse<Bytes>,
) {
    match Route::of(&request) {
        Err(e) => {
            shared.silence().await;
            let _ = Answer::error(&e).send(respond).await;
        }
        Ok(Route::AppendSession(target)) => {
            append_session::serve(shared, connection, target, request, respond).await;
        }
        Ok(Route::ReadSession(target)) => {
            read_session::serve(shared, target, request, respond).await;
        }
        Ok(route) => unary::serve(shared, connection, route, request, respond).await,
    }
}
