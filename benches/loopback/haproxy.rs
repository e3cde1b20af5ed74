//! HAProxy as a sidecar: found or installed (Debian's package), configured
//! in a temporary directory, and killed when dropped.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// Where the `haproxy` binary is, installing Debian's package if it is
/// missing and apt can; `None`, with the reason, if there is none.
pub(crate) fn find_or_install() -> Result<PathBuf, String> {
    if let Some(path) = which("haproxy") {
        return Ok(path);
    }
    if which("apt-get").is_none() {
        return Err("haproxy is not installed and apt-get is not available".into());
    }
    eprintln!("haproxy not found: installing Debian's package (apt-get install -y haproxy)");
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "-q", "haproxy"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !install() {
        // The package lists may be missing or stale.
        let _ = Command::new("apt-get")
            .args(["update", "-q"])
            .stdout(Stdio::null())
            .status();
        if !install() {
            return Err(
                "apt-get install -y haproxy failed (not root, or no package registry?)".into(),
            );
        }
    }
    which("haproxy").ok_or_else(|| "haproxy installed but not on PATH".into())
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The protocol HAProxy speaks on both sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Proto {
    /// HTTP/1.1 with keep-alive.
    Http1,
    /// HTTP/2 (h2c) end to end.
    Http2,
}

/// One running HAProxy: `127.0.0.1:<port>` forwarding to `upstream`.
#[derive(Debug)]
pub(crate) struct HaProxy {
    child: Child,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    // Holds the configuration until the process is gone.
    _dir: tempfile::TempDir,
}

impl HaProxy {
    /// Starts HAProxy in front of `upstream` and waits until it accepts
    /// connections.
    pub(crate) fn start(
        bin: &std::path::Path,
        upstream: SocketAddr,
        proto: Proto,
        threads: usize,
    ) -> anyhow::Result<Self> {
        // A port the OS picks, handed over to HAProxy (a short race with
        // other programs, on loopback only).
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let h2 = if proto == Proto::Http2 {
            " proto h2"
        } else {
            ""
        };
        let config = format!(
            "global\n\
             \x20   nbthread {threads}\n\
             \x20   maxconn 1024\n\
             defaults\n\
             \x20   mode http\n\
             \x20   timeout connect 2s\n\
             \x20   timeout client 30s\n\
             \x20   timeout server 30s\n\
             \x20   http-reuse always\n\
             frontend sidecar\n\
             \x20   bind {addr}{h2}\n\
             \x20   default_backend app\n\
             backend app\n\
             \x20   server app {upstream}{h2}\n"
        );
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config)?;
        let log = dir.path().join("haproxy.log");
        let child = Command::new(bin)
            .arg("-f")
            .arg(&path)
            .arg("-db")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut proxy = Self {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if TcpStream::connect(addr).is_ok() {
                return Ok(proxy);
            }
            if let Some(status) = proxy.child.try_wait()? {
                let said = std::fs::read_to_string(&log).unwrap_or_default();
                bail!("haproxy exited at start ({status}): {}", said.trim());
            }
            if Instant::now() > deadline {
                bail!("haproxy did not listen on {addr} within 5 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process id, for its CPU time.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for HaProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
