//! The control plane under test: a `mesh-control serve` child process,
//! and what is read of it (readiness, CPU, memory).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// The `mesh-control` binary: `--bin`, `$MESH_CONTROL_BIN`, else the
/// workspace's release build.
pub(crate) fn control_binary(bin: Option<&Path>) -> anyhow::Result<PathBuf> {
    let path = match (bin, std::env::var_os("MESH_CONTROL_BIN")) {
        (Some(p), _) => p.to_owned(),
        (None, Some(p)) => p.into(),
        (None, None) => {
            let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
                || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
                PathBuf::from,
            );
            target.join("release").join("mesh-control")
        }
    };
    if !path.is_file() {
        bail!(
            "no mesh-control binary at {} (build it with `cargo build --release -p mesh-control`, \
             as scripts/bench-control-plane does, or pass --bin)",
            path.display()
        );
    }
    Ok(path)
}

/// A running `mesh-control serve`; killed when dropped.
pub(crate) struct ControlPlane {
    child: Child,
    /// The xDS (and registry) server's address.
    pub(crate) xds: SocketAddr,
    admin: SocketAddr,
}

impl ControlPlane {
    pub(crate) fn start(bin: &Path, dir: &Path, timeout: Duration) -> anyhow::Result<Self> {
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
            .arg("--config")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "warn");
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdout = child.stdout.take().context("the child's stdout")?;
        // Reads the banner, then drains stdout so the child never blocks.
        let (tx, rx) = std_mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let mut plane = Self {
            child,
            xds: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .context("mesh-control did not print its addresses")?;
            // "mesh-control: xDS and registry on ADDR, admin on http://ADDR"
            let Some(rest) = line.split_once("registry on ").map(|(_, r)| r) else {
                continue;
            };
            let (xds, admin) = rest
                .split_once(", admin on http://")
                .with_context(|| format!("unexpected banner {line:?}"))?;
            plane.xds = xds.trim().parse()?;
            plane.admin = admin.trim().parse()?;
            break;
        }
        Ok(plane)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for `/readyz` to say 200 (a configuration has loaded).
    pub(crate) fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("mesh-control exited: {status}");
            }
            if admin_status(self.admin, "/readyz").ok() == Some(200) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("mesh-control not ready within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path` on the admin server; the status code.
fn admin_status(addr: SocketAddr, path: &str) -> anyhow::Result<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: admin\r\nconnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head)?;
    let text = std::str::from_utf8(&head)?;
    Ok(text
        .split_whitespace()
        .nth(1)
        .context("no status")?
        .parse()?)
}

/// CPU seconds (utime + stime) of `pid`, or of this process.
pub(crate) fn cpu_seconds(pid: Option<u32>) -> f64 {
    let path = pid.map_or_else(
        || "/proc/self/stat".to_owned(),
        |p| format!("/proc/{p}/stat"),
    );
    let ticks = std::fs::read_to_string(path).ok().and_then(|s| {
        let fields: Vec<&str> = s.rsplit_once(')')?.1.split_whitespace().collect();
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        Some(utime + stime)
    });
    // USER_HZ is 100 on Linux.
    ticks.map_or(0.0, |t| t as f64 / 100.0)
}

/// A field of `/proc/<pid>/status` in MiB (`VmRSS`, `VmHWM`).
pub(crate) fn memory_mib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with(field))?;
            let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib / 1024.0)
        })
        .unwrap_or(0.0)
}
