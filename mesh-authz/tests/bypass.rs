//! Path bypass corpus: with `DENY paths: ["/admin", "/admin/*"]` next to an
//! ALLOW-all policy, every spelling of the admin path is either normalized
//! to a denied path or refused by `normalize`.

mod common;

use common::*;
use mesh_authz::Decision;
use mesh_authz::path::{NormalizedPath, normalize};

/// What must happen to one request-target.
#[derive(Debug)]
enum Expect {
    /// Normalized to this path, which the DENY policy catches.
    Denied(&'static str),
    /// Refused by `normalize` (a 400).
    Rejected,
    /// Normalized to this different path and allowed: safe because the
    /// application routes on this exact path, which is not `/admin`.
    Distinct(&'static str),
}

use Expect::{Denied, Distinct, Rejected};

const CORPUS: &[(&str, Expect)] = &[
    ("/admin", Denied("/admin")),
    ("/admin/", Denied("/admin/")),
    ("/admin/users", Denied("/admin/users")),
    ("//admin", Denied("/admin")),
    ("///admin//users", Denied("/admin/users")),
    ("/./admin", Denied("/admin")),
    ("/foo/../admin", Denied("/admin")),
    ("/a/b/../../admin", Denied("/admin")),
    ("/../admin", Denied("/admin")),
    ("/%61dmin", Denied("/admin")),
    ("/%61%64%6D%69%6E", Denied("/admin")),
    ("/%2e%2e/admin", Denied("/admin")),
    ("/%2e/admin", Denied("/admin")),
    ("/foo/%2e%2e/admin", Denied("/admin")),
    ("/foo/.%2E/admin", Denied("/admin")),
    ("/%2Fadmin", Denied("/admin")),
    ("/%2fadmin", Denied("/admin")),
    ("/admin%2Fusers", Denied("/admin/users")),
    ("/admin%2F", Denied("/admin/")),
    ("/foo%2F..%2Fadmin", Denied("/admin")),
    ("/foo/..%2Fadmin", Denied("/admin")),
    ("/foo/..%2fadmin", Denied("/admin")),
    ("/%5Cadmin", Denied("/admin")),
    ("/%5cadmin", Denied("/admin")),
    ("/foo\\..\\admin", Denied("/admin")),
    ("/foo%5C..%5Cadmin", Denied("/admin")),
    ("/admin?x=1", Denied("/admin")),
    ("/admin#frag", Denied("/admin")),
    ("/admin/?x=/public", Denied("/admin/")),
    ("/admin/%2e", Denied("/admin/")),
    ("/admin/.", Denied("/admin/")),
    ("/admin/x/..", Denied("/admin/")),
    ("/admin/..", Distinct("/")),
    ("\\admin", Rejected),
    ("admin", Rejected),
    ("*", Rejected),
    ("", Rejected),
    ("/admin%00", Rejected),
    ("/admin\0", Rejected),
    ("/admin%0a", Rejected),
    ("/admin%09", Rejected),
    ("/admin\t", Rejected),
    ("/%zzadmin", Rejected),
    ("/admin%2", Rejected),
    ("/admin%", Rejected),
    ("/adm in", Rejected),
    // `;` parameters are not stripped (nor by Envoy): the application sees
    // `/admin;x`, which tonic/axum do not route to `/admin`.
    ("/admin;x", Distinct("/admin;x")),
    // Paths are case-sensitive, for Istio and for Rust routers alike:
    // `/ADMIN` does not reach the `/admin` handler.
    ("/ADMIN", Distinct("/ADMIN")),
    ("/%41dmin", Distinct("/Admin")),
    // Decoding happens once: the application sees `%2561dmin`, not `admin`.
    ("/%2561dmin", Distinct("/%2561dmin")),
    ("/%252e%252e/admin", Distinct("/%252e%252e/admin")),
    ("/administrator", Distinct("/administrator")),
];

#[test]
fn admin_is_never_reached() {
    let authz = authorizer(&[
        allow("allow-all", vec![paths(&["*"])]),
        deny("deny-admin", vec![paths(&["/admin", "/admin/*"])]),
    ]);
    for (raw, expect) in CORPUS {
        let normalized = normalize(raw);
        let decision = normalized
            .as_ref()
            .map(|n| Req::path(&n.path).check(&authz));
        match (expect, &normalized, &decision) {
            (Denied(path), Ok(n), Ok(d)) => {
                assert_eq!(&n.path, path, "{raw:?}");
                assert_eq!(*d, denied_by("default/deny-admin"), "{raw:?}");
            }
            (Rejected, Err(_), _) => {}
            (Distinct(path), Ok(n), Ok(d)) => {
                assert_eq!(&n.path, path, "{raw:?}");
                assert_ne!(n.path, "/admin", "{raw:?}");
                assert!(!n.path.starts_with("/admin/"), "{raw:?}");
                assert_eq!(*d, Decision::Allow, "{raw:?}");
            }
            _ => panic!("{raw:?}: expected {expect:?}, got {normalized:?} and {decision:?}"),
        }
    }
}

#[test]
fn legitimate_paths_stay_allowed_and_unchanged() {
    let authz = authorizer(&[
        allow("allow-all", vec![paths(&["*"])]),
        deny("deny-admin", vec![paths(&["/admin", "/admin/*"])]),
    ]);
    for (raw, path, query) in [
        (
            "/attendees.Attendees/List",
            "/attendees.Attendees/List",
            None,
        ),
        ("/a%20b", "/a%20b", None),
        ("/api/v1/x?y=%2F", "/api/v1/x", Some("y=%2F")),
        (
            "/api/v1/x?next=/admin&z=%00",
            "/api/v1/x",
            Some("next=/admin&z=%00"),
        ),
        ("/", "/", None),
        ("/files/report%3F.pdf", "/files/report%3F.pdf", None),
        ("/users/~bob/a-b_c.d", "/users/~bob/a-b_c.d", None),
        (
            "/grpc.health.v1.Health/Check",
            "/grpc.health.v1.Health/Check",
            None,
        ),
    ] {
        let n = normalize(raw).unwrap();
        assert_eq!(
            n,
            NormalizedPath {
                path: path.into(),
                query: query.map(str::to_owned),
            },
            "{raw}"
        );
        assert_eq!(n.path_and_query(), raw, "{raw}");
        assert_eq!(Req::path(&n.path).check(&authz), Decision::Allow, "{raw}");
    }
}

#[test]
fn the_application_sees_the_authorized_path() {
    let n = normalize("/foo/..%2F%61dmin/./x?q=%2F").unwrap();
    assert_eq!(n.path_and_query(), "/admin/x?q=%2F");
    // Normalizing twice changes nothing.
    for (raw, _) in CORPUS {
        if let Ok(n) = normalize(raw) {
            assert_eq!(normalize(&n.path_and_query()).unwrap(), n, "{raw:?}");
        }
    }
}
