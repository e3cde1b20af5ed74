//! Istio's `ServiceEntry` and `WorkloadEntry`: services, their ports,
//! their endpoints and the identities those endpoints present.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use mesh_identity::SpiffeId;

use super::error::did_you_mean;
use super::walk::{Cx, Field, Shape, hosts};
use crate::policy::{Endpoint, Labels};

const SPEC: Shape = Shape {
    supported: &[
        "hosts",
        "ports",
        "endpoints",
        "workloadSelector",
        "location",
        "resolution",
        "subjectAltNames",
    ],
    unsupported: &["addresses", "exportTo"],
};

const PORT: Shape = Shape {
    supported: &["number", "name", "protocol", "targetPort"],
    unsupported: &[],
};

/// A `WorkloadEntry`'s spec, also the shape of `ServiceEntry.endpoints[]`.
const WORKLOAD: Shape = Shape {
    supported: &["address", "ports", "labels", "serviceAccount"],
    unsupported: &["network", "locality", "weight"],
};

const SELECTOR: Shape = Shape {
    supported: &["labels"],
    unsupported: &[],
};

const PROTOCOLS: &[&str] = &[
    "HTTP", "HTTPS", "GRPC", "GRPC-WEB", "HTTP2", "MONGO", "MYSQL", "REDIS", "TCP", "TLS", "UDP",
];

const LOCATIONS: &[&str] = &["MESH_INTERNAL", "MESH_EXTERNAL"];

const RESOLUTIONS: &[&str] = &["STATIC", "NONE", "DNS", "DNS_ROUND_ROBIN"];

/// A `ServiceEntry`'s spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ServiceEntrySpec {
    pub(super) hosts: Vec<String>,
    pub(super) ports: Vec<PortSpec>,
    /// Endpoints written inline.
    pub(super) endpoints: Vec<WorkloadSpec>,
    /// Selects `WorkloadEntry`s in the same namespace instead.
    pub(super) selector: Option<Labels>,
    /// `subjectAltNames`: identities the endpoints may present, besides
    /// those of their service accounts.
    pub(super) identities: Vec<SpiffeId>,
}

/// Where a workload's `serviceAccount` lives: the mesh's trust domain and
/// the namespace of the resource that declares the workload.
#[derive(Debug, Clone, Copy)]
pub(super) struct AccountScope<'a> {
    pub(super) trust_domain: &'a str,
    pub(super) namespace: &'a str,
}

/// One of a `ServiceEntry`'s ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PortSpec {
    pub(super) number: u16,
    pub(super) name: Option<String>,
    pub(super) target_port: Option<u16>,
}

/// A workload: a `WorkloadEntry`, or an endpoint of a `ServiceEntry`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct WorkloadSpec {
    pub(super) address: IpAddr,
    /// Port numbers by service port name.
    pub(super) ports: BTreeMap<String, u16>,
    pub(super) labels: Labels,
    /// The identity of its `serviceAccount`, if one is written.
    pub(super) identity: Option<SpiffeId>,
}

impl WorkloadSpec {
    /// The endpoint serving `port`: the workload's port of that name, else
    /// the port's `targetPort`, else the port's number.
    pub(super) fn endpoint(&self, port: &PortSpec) -> Endpoint {
        let number = port
            .name
            .as_ref()
            .and_then(|n| self.ports.get(n).copied())
            .or(port.target_port)
            .unwrap_or(port.number);
        Endpoint {
            address: SocketAddr::new(self.address, number),
            labels: self.labels.clone(),
        }
    }
}

/// Reads a `ServiceEntry`'s `spec`. Only `resolution: STATIC` is supported;
/// it is also what an absent `resolution` means here (Istio's default,
/// `NONE`, passes traffic through to the address the caller asked for,
/// which a library mesh has no use for). `subjectAltNames` must be SPIFFE
/// IDs.
pub(super) fn read(cx: &mut Cx, spec: &Field<'_>, scope: AccountScope<'_>) -> ServiceEntrySpec {
    let mut out = ServiceEntrySpec {
        hosts: Vec::new(),
        ports: Vec::new(),
        endpoints: Vec::new(),
        selector: None,
        identities: Vec::new(),
    };
    let Some(obj) = spec.object(cx, SPEC) else {
        return out;
    };
    if let Some(f) = obj.required(cx, "hosts") {
        out.hosts = hosts(cx, &f);
    }
    if let Some(f) = obj.required(cx, "ports") {
        let items = f.list(cx);
        if items.is_empty() {
            cx.report(&f, "needs at least one port", None);
        }
        for item in items {
            let Some(port) = port(cx, &item) else {
                continue;
            };
            if out.ports.iter().any(|p| p.number == port.number) {
                cx.report(
                    &item,
                    format!("port {} is declared twice", port.number),
                    None,
                );
            }
            if port.name.is_some() && out.ports.iter().any(|p| p.name == port.name) {
                cx.report(&item, "the port name is used twice", None);
            }
            out.ports.push(port);
        }
    }
    if let Some(f) = obj.get("location") {
        one_of(cx, &f, LOCATIONS, &[], None);
    }
    if let Some(f) = obj.get("resolution") {
        one_of(
            cx,
            &f,
            &["STATIC"],
            &RESOLUTIONS[1..],
            Some("list the endpoints' IP addresses with `resolution: STATIC`"),
        );
    }
    if let Some(f) = obj.get("endpoints") {
        let names: Vec<&str> = out.ports.iter().filter_map(|p| p.name.as_deref()).collect();
        for item in f.list(cx) {
            if let Some(w) = workload(cx, &item, Some(&names), scope) {
                out.endpoints.push(w);
            }
        }
    }
    if let Some(f) = obj.get("workloadSelector") {
        if obj.has("endpoints") {
            cx.report(
                &f,
                "set either `endpoints` or `workloadSelector`, not both",
                None,
            );
        }
        if let Some(sel) = f.object(cx, SELECTOR) {
            out.selector = Some(
                sel.required(cx, "labels")
                    .map(|l| l.labels(cx))
                    .unwrap_or_default(),
            );
        }
    }
    if let Some(f) = obj.get("subjectAltNames") {
        for item in f.list(cx) {
            let Some(text) = item.name(cx) else { continue };
            match text.parse::<SpiffeId>() {
                Ok(id) => out.identities.push(id),
                Err(e) => {
                    let hint = (!text.starts_with("spiffe://")).then(|| {
                        format!(
                            "only SPIFFE IDs are supported, as in `spiffe://{}/ns/{}/sa/<service account>`",
                            scope.trust_domain, scope.namespace
                        )
                    });
                    cx.report(&item, e.to_string(), hint);
                }
            }
        }
    }
    out
}

/// Reads a `WorkloadEntry`'s `spec`.
pub(super) fn read_workload_entry(
    cx: &mut Cx,
    spec: &Field<'_>,
    scope: AccountScope<'_>,
) -> Option<WorkloadSpec> {
    workload(cx, spec, None, scope)
}

fn port(cx: &mut Cx, field: &Field<'_>) -> Option<PortSpec> {
    let obj = field.object(cx, PORT)?;
    let number = obj.required(cx, "number").and_then(|f| f.port(cx));
    let name = obj.get("name").and_then(|f| f.name(cx)).map(str::to_owned);
    let target_port = obj.get("targetPort").and_then(|f| f.port(cx));
    if let Some(f) = obj.get("protocol") {
        // Read for validation only: the protocol is the client's to speak.
        if let Some(p) = f.str(cx)
            && !PROTOCOLS.iter().any(|known| known.eq_ignore_ascii_case(p))
        {
            cx.report(
                &f,
                format!("unknown protocol `{p}`"),
                did_you_mean(p, PROTOCOLS.iter().copied()),
            );
        }
    }
    Some(PortSpec {
        number: number?,
        name,
        target_port,
    })
}

/// A workload. `port_names` are the service's port names, when known, to
/// check the workload's `ports` against.
fn workload(
    cx: &mut Cx,
    field: &Field<'_>,
    port_names: Option<&[&str]>,
    scope: AccountScope<'_>,
) -> Option<WorkloadSpec> {
    let obj = field.object(cx, WORKLOAD)?;
    let address = obj.required(cx, "address").and_then(|f| {
        let text = f.name(cx)?;
        let ip = text.parse::<IpAddr>().ok();
        if ip.is_none() {
            cx.report(
                &f,
                format!("`{text}` is not an IP address; DNS resolution is not supported yet"),
                None,
            );
        }
        ip
    });
    let mut ports = BTreeMap::new();
    if let Some(f) = obj.get("ports") {
        for (name, p) in f.entries(cx) {
            if let Some(names) = port_names
                && !names.contains(&name)
            {
                cx.report(
                    &p,
                    format!("no port of the service is named `{name}`"),
                    did_you_mean(name, names.iter().copied()),
                );
            }
            if let Some(n) = p.port(cx) {
                ports.insert(name.to_owned(), n);
            }
        }
    }
    let labels = obj.get("labels").map(|f| f.labels(cx)).unwrap_or_default();
    let identity = obj.get("serviceAccount").and_then(|f| {
        let account = f.name(cx)?;
        SpiffeId::new(scope.trust_domain, scope.namespace, account)
            .map_err(|e| cx.report(&f, e.to_string(), None))
            .ok()
    });
    Some(WorkloadSpec {
        address: address?,
        ports,
        labels,
        identity,
    })
}

/// An enum-like string: one of `supported`, else "not supported yet" for
/// `unsupported` (with `hint`), else unknown with a suggestion.
fn one_of(
    cx: &mut Cx,
    field: &Field<'_>,
    supported: &[&str],
    unsupported: &[&str],
    hint: Option<&str>,
) {
    let Some(value) = field.str(cx) else { return };
    if supported.contains(&value) {
        return;
    }
    if unsupported.contains(&value) {
        cx.report(
            field,
            format!("`{value}` is not supported yet"),
            hint.map(str::to_owned),
        );
    } else {
        let all = supported.iter().chain(unsupported).copied();
        cx.report(
            field,
            format!("unknown value `{value}`"),
            did_you_mean(value, all),
        );
    }
}
