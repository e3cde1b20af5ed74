//! A local rate limit holds across every connection of a server: tonic
//! clones the service per connection, the bucket is shared.

mod support;

use std::time::Duration;

use mesh::Mesh;
use mesh::conference::{Faults, serve_attendees};
use mesh::policy::{LocalRateLimit, Policy, StringMatch, TokenBucket};
use support::{all_to, attendees_policy, client, list};

fn limit(burst: u32, path: Option<&str>) -> LocalRateLimit {
    LocalRateLimit {
        name: "attendees-limit".into(),
        host: "attendees".into(),
        path: path.map(|p| StringMatch::Prefix(p.into())),
        // One token an hour after the burst: nothing refills mid-test.
        bucket: TokenBucket {
            max_tokens: burst,
            tokens_per_fill: 1,
            fill_interval: Duration::from_secs(3600),
        },
    }
}

#[tokio::test]
async fn the_limit_is_shared_by_all_connections() -> anyhow::Result<()> {
    let mesh = Mesh::new(Policy::empty());
    let v1 = serve_attendees(&mesh, "v1", Faults::none()).await?;
    mesh.update(
        attendees_policy(v1.addr, v1.addr, vec![all_to("v1")]).rate_limit(limit(10, None)),
    )?;
    // Five channels, five separate connections to the one server.
    let mut clients: Vec<_> = (0..5).map(|_| client(&mesh)).collect();
    let (mut ok, mut limited) = (0, 0);
    for round in 0..6 {
        for c in &mut clients {
            match list(c).await {
                Ok(_) => ok += 1,
                Err(status) => {
                    assert_eq!(
                        status.code(),
                        tonic::Code::ResourceExhausted,
                        "round {round}"
                    );
                    assert_eq!(status.message(), "rate limited by attendees-limit");
                    limited += 1;
                }
            }
        }
    }
    assert_eq!((ok, limited), (10, 20));
    let metrics = mesh.metrics().encode();
    let line = r#"mesh_server_rate_limited_total{service="attendees",policy="attendees-limit"} 20"#;
    assert!(metrics.contains(line), "{line} not in {metrics}");
    Ok(())
}

#[tokio::test]
async fn a_route_level_limit_spares_other_paths() -> anyhow::Result<()> {
    let mesh = Mesh::new(Policy::empty());
    let v1 = serve_attendees(&mesh, "v1", Faults::none()).await?;
    mesh.update(
        attendees_policy(v1.addr, v1.addr, vec![all_to("v1")])
            .rate_limit(limit(1, Some("/conference.Attendees/Purge"))),
    )?;
    let mut c = client(&mesh);
    for _ in 0..5 {
        list(&mut c).await?;
    }
    c.purge(mesh::conference::pb::ListRequest::default())
        .await?;
    let status = c
        .purge(mesh::conference::pb::ListRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    Ok(())
}
