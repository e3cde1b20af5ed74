//! Istio's `PeerAuthentication` (`security.istio.io`): the mTLS mode the
//! servers of the selected workloads run in.

use mesh_authz::{MtlsMode, PeerAuthentication};

use super::walk::{Cx, Field, Shape, workload_selector};

const SPEC: Shape = Shape {
    supported: &["selector", "mtls"],
    unsupported: &["portLevelMtls"],
};

const MTLS: Shape = Shape {
    supported: &["mode"],
    unsupported: &[],
};

/// `mtls.mode` values; `UNSET` (`None`) inherits from the next level.
const MODES: &[(&str, Option<MtlsMode>)] = &[
    ("UNSET", None),
    ("DISABLE", Some(MtlsMode::Disable)),
    ("PERMISSIVE", Some(MtlsMode::Permissive)),
    ("STRICT", Some(MtlsMode::Strict)),
];

/// Reads a `PeerAuthentication`'s `spec`; `name` and `namespace` are its
/// metadata. No `mtls` (or no `mode`) is `UNSET`.
pub(super) fn read(
    cx: &mut Cx,
    spec: &Field<'_>,
    name: &str,
    namespace: &str,
) -> PeerAuthentication {
    let mut out = PeerAuthentication {
        name: name.to_owned(),
        namespace: namespace.to_owned(),
        selector: None,
        mode: None,
    };
    let Some(obj) = spec.object(cx, SPEC) else {
        return out;
    };
    out.selector = obj.get("selector").and_then(|f| workload_selector(cx, &f));
    if let Some(mode) = obj
        .get("mtls")
        .and_then(|f| f.object(cx, MTLS))
        .and_then(|m| m.get("mode"))
    {
        out.mode = mode.choice(cx, "mTLS mode", MODES, &[], None).flatten();
    }
    out
}
