//! The errors the model answers with, as s2-lite 0.43.4 words them: a
//! status and a JSON body (`{"code","message"}`, or the 412 / 416 shapes).

use s2_core::types::StreamPosition;

/// An error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ServiceError {
    /// `{"code": code, "message": message}` with the code's status.
    Standard { code: &'static str, message: String },
    /// 412 `{"seq_num_mismatch": N}`: N is where the batch would have gone.
    SeqNumMismatch(u64),
    /// 412 `{"fencing_token_mismatch": "..."}`: the stream's token.
    FencingTokenMismatch(String),
    /// 416 `{"tail": {...}}`: the read starts past what is written.
    Unwritten(StreamPosition),
}

impl ServiceError {
    fn standard(code: &'static str, message: impl Into<String>) -> Self {
        Self::Standard {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn basin_not_found(basin: &str) -> Self {
        Self::standard("basin_not_found", format!("basin `{basin}` not found"))
    }

    pub(crate) fn stream_not_found(basin: &str, stream: &str) -> Self {
        Self::standard(
            "stream_not_found",
            format!("stream `{stream}` in basin `{basin}` not found"),
        )
    }

    pub(crate) fn basin_exists(basin: &str) -> Self {
        Self::standard(
            "resource_already_exists",
            format!("basin `{basin}` already exists"),
        )
    }

    pub(crate) fn stream_exists(basin: &str, stream: &str) -> Self {
        Self::standard(
            "resource_already_exists",
            format!("stream `{stream}` in basin `{basin}` already exists"),
        )
    }

    /// What s2-lite answers when its streamer is gone: no side effect was
    /// had, but the code does not promise it.
    pub(crate) fn unavailable() -> Self {
        Self::standard("unavailable", "streamer missing in action")
    }

    /// What the S2 service answers while a server drains (s2-lite never
    /// does): retry elsewhere, nothing was applied.
    pub(crate) fn server_draining() -> Self {
        Self::standard("server_draining", "server is draining")
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::standard("invalid", message)
    }

    pub(crate) fn bad_header(message: impl Into<String>) -> Self {
        Self::standard("bad_header", message)
    }

    pub(crate) fn bad_json(message: impl Into<String>) -> Self {
        Self::standard("bad_json", message)
    }

    pub(crate) fn bad_proto(message: impl Into<String>) -> Self {
        Self::standard("bad_proto", message)
    }

    pub(crate) fn bad_frame(message: impl Into<String>) -> Self {
        Self::standard("bad_frame", message)
    }

    pub(crate) fn bad_query(message: impl Into<String>) -> Self {
        Self::standard("bad_query", message)
    }

    pub(crate) fn not_implemented() -> Self {
        Self::standard("not_implemented", "Not implemented")
    }

    /// The HTTP status, as s2-lite maps codes to statuses.
    pub(crate) fn status(&self) -> u16 {
        match self {
            Self::SeqNumMismatch(_) | Self::FencingTokenMismatch(_) => 412,
            Self::Unwritten(_) => 416,
            Self::Standard { code, .. } => status_of(code),
        }
    }

    /// The JSON body.
    pub(crate) fn body(&self) -> String {
        let value = match self {
            Self::Standard { code, message } => {
                serde_json::json!({ "code": code, "message": message })
            }
            Self::SeqNumMismatch(seq_num) => serde_json::json!({ "seq_num_mismatch": seq_num }),
            Self::FencingTokenMismatch(token) => {
                serde_json::json!({ "fencing_token_mismatch": token })
            }
            Self::Unwritten(tail) => {
                return super::json::to_string(&super::json::Tail::from(*tail));
            }
        };
        value.to_string()
    }
}

fn status_of(code: &str) -> u16 {
    match code {
        "authn" => 401,
        "bad_frame" | "bad_header" | "bad_json" | "bad_path" | "bad_proto" | "bad_query"
        | "decryption_failed" => 400,
        "permission_denied" | "quota_exhausted" => 403,
        "access_token_not_found" | "basin_not_found" | "stream_not_found" => 404,
        "request_timeout" => 408,
        "basin_deletion_pending"
        | "resource_already_exists"
        | "stream_deletion_pending"
        | "transaction_conflict" => 409,
        "invalid" => 422,
        "rate_limited" => 429,
        "not_implemented" => 501,
        "hot_server" => 502,
        "server_draining" | "unavailable" => 503,
        "upstream_timeout" => 504,
        // `other`, `storage`, and anything else.
        _ => 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_have_s2_lite_shapes() {
        assert_eq!(
            ServiceError::SeqNumMismatch(7).body(),
            r#"{"seq_num_mismatch":7}"#
        );
        assert_eq!(
            ServiceError::FencingTokenMismatch("tok".into()).body(),
            r#"{"fencing_token_mismatch":"tok"}"#
        );
        let tail = StreamPosition::new(3, 9);
        assert_eq!(
            ServiceError::Unwritten(tail).body(),
            r#"{"tail":{"seq_num":3,"timestamp":9}}"#
        );
        let unavailable = ServiceError::unavailable();
        assert_eq!(unavailable.status(), 503);
        assert_eq!(
            unavailable.body(),
            r#"{"code":"unavailable","message":"streamer missing in action"}"#
        );
    }

    #[test]
    fn statuses_follow_codes() {
        assert_eq!(ServiceError::basin_not_found("b").status(), 404);
        assert_eq!(ServiceError::stream_exists("b", "s").status(), 409);
        assert_eq!(ServiceError::invalid("x").status(), 422);
        assert_eq!(ServiceError::server_draining().status(), 503);
        assert_eq!(ServiceError::not_implemented().status(), 501);
        assert_eq!(ServiceError::SeqNumMismatch(0).status(), 412);
        assert_eq!(
            ServiceError::Unwritten(StreamPosition::default()).status(),
            416
        );
    }
}
