//! A server's local rate limit is shared by all its connections: hit from
//! several separate HTTP/1.1 and h2c connections and two separate
//! `MeshClient`s, exactly the burst gets through and the rest get 429 with
//! `retry-after` and a body naming the policy.

#[path = "support/hyper.rs"]
mod support;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use mesh_core::Mesh;
use mesh_core::policy::{Endpoint, LocalRateLimit, Policy, Service, TokenBucket};
use mesh_hyper::{MeshClient, MeshServerLayer};
use support::{get, read, spawn_service};
use tokio::net::TcpStream;
use tower::Layer;

const BURST: u32 = 5;

/// One separate connection to the server, HTTP/1.1 or h2c.
enum Conn {
    H1(hyper::client::conn::http1::SendRequest<Empty<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Empty<Bytes>>),
}

impl Conn {
    async fn open(addr: SocketAddr, h2: bool) -> anyhow::Result<Self> {
        let io = TokioIo::new(TcpStream::connect(addr).await?);
        Ok(if h2 {
            let (send, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
            tokio::spawn(conn);
            Conn::H2(send)
        } else {
            let (send, conn) = hyper::client::conn::http1::handshake(io).await?;
            tokio::spawn(conn);
            Conn::H1(send)
        })
    }

    async fn get(
        &mut self,
        addr: SocketAddr,
    ) -> anyhow::Result<(StatusCode, http::HeaderMap, String)> {
        let res: Response<Incoming> = match self {
            Conn::H1(send) => {
                let req = Request::get("/sessions")
                    .header(http::header::HOST, "sessions")
                    .body(Empty::new())?;
                send.ready().await?;
                send.send_request(req).await?
            }
            Conn::H2(send) => {
                let req = Request::get(format!("http://{addr}/sessions")).body(Empty::new())?;
                send.ready().await?;
                send.send_request(req).await?
            }
        };
        let (parts, body) = res.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok((
            parts.status,
            parts.headers,
            String::from_utf8(body.to_vec())?,
        ))
    }
}

#[tokio::test]
async fn burst_is_shared_across_connections() -> anyhow::Result<()> {
    // The server: a rate limit with a burst of BURST and, within the test,
    // no refill (one token an hour).
    let server_policy = Policy::builder()
        .rate_limit(LocalRateLimit {
            name: "sessions-burst".into(),
            host: "sessions".into(),
            path: None,
            bucket: TokenBucket {
                max_tokens: BURST,
                tokens_per_fill: 1,
                fill_interval: Duration::from_secs(3600),
            },
        })
        .build()?;
    let server_mesh = Mesh::new(server_policy);
    let app = tower::service_fn(|_req: Request<Incoming>| async {
        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
    });
    let server = spawn_service(MeshServerLayer::new(&server_mesh, "sessions").layer(app)).await?;
    let addr = server.addr;

    // Callers: three HTTP/1.1 connections, two h2c connections, and two
    // separate mesh clients (each with its own connections).
    let mut conns = Vec::new();
    for h2 in [false, false, false, true, true] {
        conns.push(Conn::open(addr, h2).await?);
    }
    let client_mesh = Mesh::new(
        Policy::builder()
            .service(Service::new("sessions").endpoint(Endpoint::new(addr)))
            .build()?,
    );
    let clients = [
        MeshClient::new(&client_mesh, "sessions")?,
        MeshClient::http2(&client_mesh, "sessions")?,
    ];

    let mut replies = Vec::new();
    for _round in 0..3 {
        for conn in &mut conns {
            replies.push(conn.get(addr).await?);
        }
        for client in &clients {
            let r = read(client.request(get("/sessions")).await).await?;
            replies.push((r.status, r.headers, r.body));
        }
    }
    assert_eq!(replies.len(), 21);

    let ok = replies
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::OK)
        .count();
    assert_eq!(ok, BURST as usize, "exactly the burst is admitted");
    for (status, headers, body) in &replies {
        if *status == StatusCode::OK {
            assert_eq!(body, "ok");
            continue;
        }
        assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        let retry_after: u64 = headers[http::header::RETRY_AFTER].to_str()?.parse()?;
        assert!(retry_after >= 1, "retry-after {retry_after}");
        assert_eq!(headers["x-mesh-error"], "rate_limited");
        assert_eq!(body.trim_end(), "rate limited by sessions-burst");
    }
    Ok(())
}
