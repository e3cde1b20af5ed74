//! Which outcomes a retry policy retries.

use http::Response;

use crate::error::MeshError;
use crate::policy::{GrpcRetryOn, HttpRetryOn, RetryPolicy};
use crate::protocol::{Outcome, Protocol, code};

fn http_on(policy: &RetryPolicy, any: &[HttpRetryOn]) -> bool {
    policy.http_on.iter().any(|c| any.contains(c))
}

fn grpc_on(policy: &RetryPolicy, code: i32) -> bool {
    policy.grpc_on.iter().any(|c| c.code() == code)
}

/// Whether the outcome of an attempt is one `policy` retries.
pub(super) fn is_retryable<B>(
    policy: &RetryPolicy,
    protocol: Protocol,
    result: &Result<Response<B>, MeshError>,
) -> bool {
    use HttpRetryOn::*;
    match result {
        Ok(res) => match protocol.classify(res) {
            Outcome::Http(status) => {
                let s = status.as_u16();
                (status.is_server_error() && http_on(policy, &[ServerError]))
                    || (matches!(s, 502..=504) && http_on(policy, &[GatewayError]))
                    || (s == 503 && http_on(policy, &[Unavailable503]))
                    || (s == 409 && http_on(policy, &[Retriable4xx]))
            }
            Outcome::Grpc(c) => grpc_on(policy, c),
            // The status is in the trailers: the destination has started
            // answering, and gRPC commits to a response at that point.
            Outcome::GrpcInTrailers => false,
        },
        // The request never reached the application: always safe to retry
        // when the policy covers failed connections.
        Err(MeshError::Connect { .. }) | Err(MeshError::NoHealthyEndpoint { .. }) => {
            http_on(policy, &[ConnectFailure, ServerError, GatewayError])
                || (protocol == Protocol::Grpc && grpc_on(policy, code::UNAVAILABLE))
        }
        Err(MeshError::Transport { .. }) => {
            http_on(policy, &[Reset, ServerError])
                || (protocol == Protocol::Grpc && grpc_on(policy, code::UNAVAILABLE))
        }
        Err(MeshError::PerTryTimeout { .. }) => {
            http_on(policy, &[GatewayError, ServerError])
                || (protocol == Protocol::Grpc
                    && grpc_on(policy, GrpcRetryOn::DeadlineExceeded.code()))
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    fn status(s: u16) -> Result<Response<()>, MeshError> {
        let mut res = Response::new(());
        *res.status_mut() = StatusCode::from_u16(s).unwrap();
        Ok(res)
    }

    fn grpc(c: i32) -> Result<Response<()>, MeshError> {
        let mut res = Response::new(());
        res.headers_mut()
            .insert(crate::protocol::GRPC_STATUS, c.into());
        Ok(res)
    }

    #[test]
    fn http_conditions() {
        let mut p = RetryPolicy::new(2);
        p.http_on = vec![HttpRetryOn::GatewayError];
        assert!(is_retryable(&p, Protocol::Http, &status(503)));
        assert!(!is_retryable(&p, Protocol::Http, &status(500)));
        p.http_on = vec![HttpRetryOn::ServerError];
        assert!(is_retryable(&p, Protocol::Http, &status(500)));
        assert!(!is_retryable(&p, Protocol::Http, &status(404)));
        p.http_on = vec![HttpRetryOn::Retriable4xx];
        assert!(is_retryable(&p, Protocol::Http, &status(409)));
    }

    #[test]
    fn grpc_conditions() {
        let mut p = RetryPolicy::new(2);
        p.grpc_on = vec![GrpcRetryOn::Unavailable];
        assert!(is_retryable(&p, Protocol::Grpc, &grpc(14)));
        assert!(!is_retryable(&p, Protocol::Grpc, &grpc(13)));
        assert!(!is_retryable(&p, Protocol::Grpc, &grpc(0)));
        let in_trailers: Result<Response<()>, MeshError> = Ok(Response::new(()));
        assert!(!is_retryable(&p, Protocol::Grpc, &in_trailers));
    }

    #[test]
    fn connection_failures() {
        let p = RetryPolicy::new(1);
        let err = || -> Result<Response<()>, MeshError> {
            Err(MeshError::Connect {
                endpoint: "127.0.0.1:1".parse().unwrap(),
                source: "refused".into(),
            })
        };
        assert!(is_retryable(&p, Protocol::Http, &err()));
        assert!(is_retryable(&p, Protocol::Grpc, &err()));
        let mut none = RetryPolicy::new(1);
        none.http_on.clear();
        none.grpc_on.clear();
        assert!(!is_retryable(&none, Protocol::Grpc, &err()));
        let deadline: Result<Response<()>, MeshError> = Err(MeshError::DeadlineExceeded {
            route: "r".into(),
            elapsed: std::time::Duration::from_secs(1),
            clamped: false,
        });
        assert!(!is_retryable(&p, Protocol::Http, &deadline));
    }
}
