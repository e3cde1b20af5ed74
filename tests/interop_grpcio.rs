//! Interop: gRPC's own xDS client (Python grpcio, i.e. gRPC C-core) pointed
//! at mesh-control with a bootstrap file, calling `xds:///<service>`.
//!
//! It checks that a weighted split lands within ±5 points of its weights
//! over 1000 RPCs, that a header match and a path match route as the YAML
//! says, that the rest of the mapping (regex, present and absent headers,
//! retries, rate limit filters) is accepted and a route timeout applies,
//! and that an edit of the YAML on disk moves traffic under load without a
//! single failed call. Any NACK fails it: gRPC logs each one ("will NACK"),
//! and the control plane's client status records it.
//!
//! Needs a Python with `interop/requirements.txt` installed, named by
//! `MESH_INTEROP_PYTHON` (default `python3`); `.ci/run` creates one. Run
//! with `cargo test --test interop_grpcio -- --ignored`. Without grpcio it
//! fails, saying how to install it. To see why gRPC rejects a response, set
//! `GRPC_VERBOSITY=debug GRPC_TRACE=xds_client,xds_resolver,cds_lb` (the
//! child inherits the environment; its stderr is shown on failure).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use mesh::Mesh;
use mesh::conference::{Faults, Running, serve_attendees};
use mesh::policy::Policy;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// The longest a `count` run of the client may take (1000 loopback calls
/// take about a second once the channel is ready).
const COUNT_TIMEOUT: Duration = Duration::from_secs(120);
/// The longest the client may take to answer its first call.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest the client may take to see the edit and finish.
const EDIT_TIMEOUT: Duration = Duration::from_secs(120);
/// The longest the preflight check of the Python environment may take.
const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(60);

const ATTENDEES: &str = "attendees";
const CANARY: &str = "attendees-canary";
const EDIT: &str = "attendees-edit";
const RICH: &str = "attendees-rich";
const SLOW: &str = "attendees-slow";
/// The route timeout of `attendees-slow`, whose only backend never answers
/// (the client's own deadline is 5 s).
const SLOW_TIMEOUT_MS: u64 = 500;

/// What the client reports: answers by version, failures by
/// `CODE: details`, and the slowest call.
#[derive(Debug, Default)]
struct Report {
    versions: BTreeMap<String, u64>,
    errors: BTreeMap<String, u64>,
    max_ms: u64,
}

impl Report {
    fn parse(stdout: &str) -> Result<Self> {
        let line = stdout
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with('{'))
            .context("no JSON report on the client's stdout")?;
        let json: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("the client's report is not JSON: {line}"))?;
        let counts = |key: &str| -> Result<BTreeMap<String, u64>> {
            json[key]
                .as_object()
                .with_context(|| format!("no `{key}` object in {line}"))?
                .iter()
                .map(|(k, v)| {
                    let n = v
                        .as_u64()
                        .with_context(|| format!("`{key}.{k}` is not a count"))?;
                    Ok((k.clone(), n))
                })
                .collect()
        };
        Ok(Self {
            versions: counts("versions")?,
            errors: counts("errors")?,
            max_ms: json["max_ms"].as_u64().unwrap_or(0),
        })
    }

    fn answered(&self, version: &str) -> u64 {
        self.versions.get(version).copied().unwrap_or(0)
    }

    fn total(&self) -> u64 {
        self.versions.values().sum::<u64>() + self.errors.values().sum::<u64>()
    }
}

/// The control plane, the two versions of `attendees`, and the files.
struct World {
    plane: mesh_control::Running,
    config: tempfile::TempDir,
    bootstrap: PathBuf,
    python: String,
    _v1: Running,
    _v2: Running,
    _hung: Running,
    _mesh: Mesh,
}

impl World {
    async fn start() -> Result<Self> {
        let python = std::env::var("MESH_INTEROP_PYTHON").unwrap_or_else(|_| "python3".into());
        preflight(&python).await?;

        let mesh = Mesh::new(Policy::empty());
        let v1 = serve_attendees(&mesh, "v1", Faults::none()).await?;
        let v2 = serve_attendees(&mesh, "v2", Faults::none()).await?;
        let hang = Faults::none();
        hang.hang();
        let hung = serve_attendees(&mesh, "hung", hang).await?;

        let config = tempfile::tempdir()?;
        write(config.path(), "services.yaml", &services(v1.addr, v2.addr))?;
        write(config.path(), "routes-attendees.yaml", ROUTES_ATTENDEES)?;
        write(config.path(), "routes-canary.yaml", ROUTES_CANARY)?;
        write(config.path(), "routes-edit.yaml", &all_to(EDIT, "v1"))?;
        write(config.path(), "routes-rich.yaml", ROUTES_RICH)?;
        write(config.path(), "slow.yaml", &slow(hung.addr))?;

        let plane = mesh_control::ControlPlane::builder()
            .config_dir(config.path())
            .listen("127.0.0.1:0")
            .admin("127.0.0.1:0")
            .start()
            .await?;
        let policy = plane.policy();
        ensure!(
            [ATTENDEES, CANARY, EDIT, RICH, SLOW]
                .iter()
                .all(|h| policy.service(h).is_some()),
            "the control plane did not load the test's YAML (see its /errors)"
        );

        let bootstrap = config.path().join(".grpc-bootstrap.json");
        let json = format!(
            r#"{{"xds_servers":[{{"server_uri":"{}","channel_creds":[{{"type":"insecure"}}],"server_features":["xds_v3"]}}],"node":{{"id":"interop","locality":{{}}}}}}"#,
            plane.xds_addr()
        );
        std::fs::write(&bootstrap, json)?;
        Ok(Self {
            plane,
            config,
            bootstrap,
            python,
            _v1: v1,
            _v2: v2,
            _hung: hung,
            _mesh: mesh,
        })
    }

    /// The client, started with `args`; killed when dropped.
    fn client(&self, args: &[&str]) -> Result<Child> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/grpcio_client.py");
        Command::new(&self.python)
            .arg(script)
            .args(args)
            .env("GRPC_XDS_BOOTSTRAP", &self.bootstrap)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot run {} (MESH_INTEROP_PYTHON)", self.python))
    }

    /// Runs the client in `count` mode to the end.
    async fn count(&self, target: &str, n: u32, extra: &[&str]) -> Result<Report> {
        let n = n.to_string();
        let mut args = vec!["count", target, n.as_str()];
        args.extend_from_slice(extra);
        let child = self.client(&args)?;
        // On timeout the future, and so the child, is dropped: killed.
        let out = timeout(COUNT_TIMEOUT, child.wait_with_output())
            .await
            .map_err(|_| {
                anyhow::anyhow!("the client ({args:?}) did not finish in {COUNT_TIMEOUT:?}")
            })??;
        self.report(&args, &out)
    }

    fn report(&self, args: &[&str], out: &Output) -> Result<Report> {
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let report = Report::parse(&stdout);
        // gRPC logs every rejected response at ERROR level, even when the
        // calls still work (A46: only the bad resources are dropped).
        let nacked = stderr.contains("will NACK");
        match report {
            Ok(r) if out.status.success() && !nacked => {
                println!("{args:?}: {r:?}");
                Ok(r)
            }
            _ => bail!(
                "the client ({args:?}) failed ({}{}):\nstdout:\n{stdout}\nstderr (tail):\n{}\n\
                 control plane clients: {:#?}",
                out.status,
                if nacked {
                    ", and NACKed a response"
                } else {
                    ""
                },
                tail(&stderr, 60),
                self.plane.clients()
            ),
        }
    }

    /// Rewrites a file in the watched directory atomically (a dotfile,
    /// which the control plane skips, renamed into place).
    fn rewrite(&self, name: &str, contents: &str) -> Result<()> {
        let tmp = self.config.path().join(format!(".{name}.tmp"));
        std::fs::write(&tmp, contents)?;
        std::fs::rename(&tmp, self.config.path().join(name))?;
        Ok(())
    }
}

/// Fails, saying how to fix it, when the Python has no grpcio.
async fn preflight(python: &str) -> Result<()> {
    let hint = "the interop check needs Python with grpcio and grpcio-tools: \
                `python3 -m venv target/interop-venv && target/interop-venv/bin/pip install \
                -r interop/requirements.txt`, then run it with \
                `MESH_INTEROP_PYTHON=target/interop-venv/bin/python` (.ci/run does this)";
    let check = Command::new(python)
        .args(["-c", "import grpc, grpc_tools; print(grpc.__version__)"])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = match timeout(PREFLIGHT_TIMEOUT, check).await {
        Err(_) => bail!("`{python}` did not answer in {PREFLIGHT_TIMEOUT:?}; {hint}"),
        Ok(Err(e)) => bail!("cannot run `{python}` (MESH_INTEROP_PYTHON): {e}; {hint}"),
        Ok(Ok(out)) => out,
    };
    if !out.status.success() {
        bail!(
            "`{python}` cannot import grpc and grpc_tools:\n{}\n{hint}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Collects a child's stream in the background.
fn drain(mut stream: impl AsyncRead + Unpin + Send + 'static) -> JoinHandle<String> {
    tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = stream.read_to_end(&mut buf).await;
        String::from_utf8_lossy(&buf).into_owned()
    })
}

fn tail(s: &str, lines: usize) -> String {
    let all: Vec<&str> = s.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn write(dir: &Path, name: &str, contents: &str) -> Result<()> {
    std::fs::write(dir.join(name), contents).with_context(|| format!("writing {name}"))
}

/// The three hosts, each served by both workloads, with subsets by
/// `version`.
fn services(v1: SocketAddr, v2: SocketAddr) -> String {
    let mut yaml = String::new();
    for (version, addr) in [("v1", v1), ("v2", v2)] {
        yaml += &format!(
            "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n\
             metadata: {{name: attendees-{version}}}\n\
             spec:\n  address: {}\n  ports: {{grpc: {}}}\n  labels: {{app: attendees, version: {version}}}\n---\n",
            addr.ip(),
            addr.port()
        );
    }
    for host in [ATTENDEES, CANARY, EDIT, RICH] {
        yaml += &format!(
            "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: {host}}}\n\
             spec:\n  hosts: [{host}]\n  location: MESH_INTERNAL\n  resolution: STATIC\n\
             \x20 ports: [{{number: 50051, name: grpc, protocol: GRPC}}]\n\
             \x20 workloadSelector: {{labels: {{app: attendees}}}}\n---\n\
             apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: {host}}}\n\
             spec:\n  host: {host}\n  subsets:\n  - {{name: v1, labels: {{version: v1}}}}\n\
             \x20 - {{name: v2, labels: {{version: v2}}}}\n---\n"
        );
    }
    yaml
}

/// `attendees`: a header match and a path match to v2, the rest to v1.
const ROUTES_ATTENDEES: &str = "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: attendees}
spec:
  hosts: [attendees]
  http:
  - name: beta-users
    match:
    - headers: {x-user-group: {exact: beta}}
    route:
    - destination: {host: attendees, subset: v2}
  - name: purge
    match:
    - uri: {exact: /conference.Attendees/Purge}
    route:
    - destination: {host: attendees, subset: v2}
  - name: default
    route:
    - destination: {host: attendees, subset: v1}
";

/// `attendees-canary`: 80 % to v1, 20 % to v2.
const ROUTES_CANARY: &str = "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: attendees-canary}
spec:
  hosts: [attendees-canary]
  http:
  - name: canary
    route:
    - destination: {host: attendees-canary, subset: v1}
      weight: 80
    - destination: {host: attendees-canary, subset: v2}
      weight: 20
";

/// `attendees-rich`: every part of the mapping gRPC might reject (regex,
/// present and absent headers, `:method` and `:authority` matches, a
/// timeout, retries with backoff and a budget in the route's metadata, a
/// rate limit filter in the listener). `x-debug` present: v2; else v1.
///
/// gRPC C-core routes before `:method` and `:authority` exist on the call,
/// so a match on them never matches there (it is accepted, not NACKed):
/// the `pseudo` route holds them, behind a header the test never sends.
const ROUTES_RICH: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: attendees-rich}
spec:
  hosts: [attendees-rich]
  http:
  - name: pseudo
    match:
    - method: {exact: POST}
      authority: {prefix: attendees-rich}
      headers:
        x-never: {exact: sent}
    route:
    - destination: {host: attendees-rich, subset: v2}
  - name: debug
    match:
    - uri: {regex: "/conference\\.Attendees/(List|Purge)"}
      headers:
        x-debug: {present: true}
      withoutHeaders:
        x-canary: {}
    - uri: {prefix: /conference.Attendees/Purge}
      headers:
        x-debug: {exact: purge}
    route:
    - destination: {host: attendees-rich, subset: v2}
    timeout: 3s
    retries:
      attempts: 2
      perTryTimeout: 1s
      retryOn: unavailable,cancelled,deadline-exceeded,5xx,gateway-error,reset,connect-failure
      backoff: {baseInterval: 25ms, maxInterval: 250ms}
      budget: {retryRatio: 0.2, minRetriesPerSecond: 10}
  - name: default
    route:
    - destination: {host: attendees-rich, subset: v1}
      weight: 100
---
apiVersion: policy.mesh.rs/v1alpha1
kind: LocalRateLimit
metadata: {name: rich-limit}
spec:
  host: attendees-rich
  tokenBucket: {maxTokens: 100000, tokensPerFill: 100000, fillInterval: 1s}
  match: {uri: {prefix: /conference.Attendees/}}
"#;

/// `attendees-slow`: one backend, which never answers, behind a route
/// timeout.
fn slow(hung: SocketAddr) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: {SLOW}}}\n\
         spec:\n  hosts: [{SLOW}]\n  ports: [{{number: 50051, name: grpc, protocol: GRPC}}]\n\
         \x20 endpoints:\n  - {{address: {}, ports: {{grpc: {}}}, labels: {{version: hung}}}}\n---\n\
         apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: {SLOW}}}\n\
         spec:\n  hosts: [{SLOW}]\n  http:\n  - route:\n    - destination: {{host: {SLOW}}}\n\
         \x20   timeout: {SLOW_TIMEOUT_MS}ms\n",
        hung.ip(),
        hung.port()
    )
}

/// Everything for `host` to `subset`.
fn all_to(host: &str, subset: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: {host}}}\n\
         spec:\n  hosts: [{host}]\n  http:\n  - route:\n    - destination: {{host: {host}, subset: {subset}}}\n"
    )
}

fn target(host: &str) -> String {
    format!("{host}:50051")
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Python grpcio; .ci/run runs it"]
async fn grpcio_follows_the_control_plane() -> Result<()> {
    let world = World::start().await?;

    // A weighted split: 80/20 within ±5 points over 1000 calls.
    let split = world.count(&target(CANARY), 1000, &[]).await?;
    ensure!(split.errors.is_empty(), "the split had failures: {split:?}");
    ensure!(split.total() == 1000, "not 1000 answers: {split:?}");
    let v2_share = split.answered("v2") as f64 / 10.0;
    ensure!(
        split.answered("v1") + split.answered("v2") == 1000 && (15.0..=25.0).contains(&v2_share),
        "80/20 split off by more than 5 points: v2 got {v2_share}% ({split:?})"
    );

    // A header match: every call with `x-user-group: beta` to v2.
    let beta = world
        .count(&target(ATTENDEES), 100, &["x-user-group=beta"])
        .await?;
    ensure!(
        beta.errors.is_empty() && beta.answered("v2") == 100,
        "the header match did not send everything to v2: {beta:?}"
    );
    // ... and without the header, to v1.
    let plain = world.count(&target(ATTENDEES), 100, &[]).await?;
    ensure!(
        plain.errors.is_empty() && plain.answered("v1") == 100,
        "calls without the header did not all go to v1: {plain:?}"
    );

    // A path match: Purge to v2, List (above) to v1.
    let purge = world
        .count(&target(ATTENDEES), 100, &["--method", "Purge"])
        .await?;
    ensure!(
        purge.errors.is_empty() && purge.answered("v2") == 100,
        "the path match did not send Purge to v2: {purge:?}"
    );

    // The rest of the mapping is accepted (no NACK) and routes.
    let debug = world.count(&target(RICH), 100, &["x-debug=1"]).await?;
    ensure!(
        debug.errors.is_empty() && debug.answered("v2") == 100,
        "the rich route did not send everything with x-debug to v2: {debug:?}"
    );
    let plain = world.count(&target(RICH), 100, &[]).await?;
    ensure!(
        plain.errors.is_empty() && plain.answered("v1") == 100,
        "the rich route's default did not send everything to v1: {plain:?}"
    );

    // A route timeout: gRPC reads `max_stream_duration`, not `timeout`
    // (without it, these calls wait out the client's own 5 s). Only an upper
    // bound: grpcio fires a timeout from its method config up to ~1 s early
    // (grpc/grpc#34547, with or without xDS), often at once for 500 ms.
    let slow = world.count(&target(SLOW), 3, &[]).await?;
    ensure!(
        slow.errors
            .keys()
            .all(|e| e.starts_with("DEADLINE_EXCEEDED"))
            && slow.errors.values().sum::<u64>() == 3
            && slow.max_ms < SLOW_TIMEOUT_MS + 1500,
        "the route timeout ({SLOW_TIMEOUT_MS} ms) did not end calls to a backend that never \
         answers (the client's own deadline is 5 s): {slow:?}"
    );

    // An edit on disk under load: all to v1, then all to v2, no failures.
    let args = ["until", &target(EDIT), "v2", "50", "20000"].map(String::from);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child = world.client(&args)?;
    let stdout = child.stdout.take().context("no stdout")?;
    let stderr = drain(child.stderr.take().context("no stderr")?);
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = String::new();
    let started = timeout(START_TIMEOUT, async {
        while let Some(line) = lines.next_line().await? {
            seen += &line;
            seen.push('\n');
            if line.trim() == "started" {
                return Ok(true);
            }
        }
        Ok::<_, std::io::Error>(false)
    })
    .await;
    if !matches!(started, Ok(Ok(true))) {
        drop(child);
        let stderr = timeout(Duration::from_secs(5), stderr)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        bail!(
            "the client never answered a call (within {START_TIMEOUT:?}): {started:?}\n\
             stdout:\n{seen}\nstderr (tail):\n{}\ncontrol plane clients: {:#?}",
            tail(&stderr, 60),
            world.plane.clients()
        );
    }
    // Connected and served: the control plane has seen no NACK from it.
    let nacks: Vec<_> = world
        .plane
        .clients()
        .into_iter()
        .flat_map(|c| c.types.into_iter())
        .filter_map(|(type_url, t)| t.last_nack.map(|n| (type_url, n)))
        .collect();
    ensure!(nacks.is_empty(), "grpcio NACKed: {nacks:#?}");
    world.rewrite("routes-edit.yaml", &all_to(EDIT, "v2"))?;
    let finished = timeout(EDIT_TIMEOUT, async {
        while let Some(line) = lines.next_line().await? {
            seen += &line;
            seen.push('\n');
        }
        child.wait().await
    })
    .await;
    let status = match finished {
        Ok(status) => status?,
        Err(_) => {
            drop(child);
            bail!("the client did not finish in {EDIT_TIMEOUT:?} after the edit:\n{seen}");
        }
    };
    let stderr = timeout(Duration::from_secs(5), stderr)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let out = Output {
        status,
        stdout: seen.into_bytes(),
        stderr: stderr.into_bytes(),
    };
    let edit = world.report(&args, &out)?;
    ensure!(
        edit.errors.is_empty(),
        "calls failed while the edit moved traffic: {edit:?}"
    );
    ensure!(
        edit.answered("v1") > 0 && edit.answered("v2") >= 50,
        "traffic did not move from v1 to v2 (50 in a row): {edit:?}"
    );

    world.plane.shutdown().await?;
    Ok(())
}
