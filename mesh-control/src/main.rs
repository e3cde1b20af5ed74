//! `mesh-control`: the mesh's control plane as a program.
//!
//! ```text
//! mesh-control serve --config deploy/mesh --listen 127.0.0.1:15010 --admin 127.0.0.1:15014
//! mesh-control probe --xds 127.0.0.1:15010 --target attendees:50051 -n 100
//! mesh-control token --ca-dir deploy/ca --namespace default --service-account attendees
//! ```

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use mesh_control::{
    CertificateAuthority, ControlPlane, DEFAULT_ADMIN, DEFAULT_CA_LISTEN, DEFAULT_LISTEN,
    DEFAULT_TRUST_DOMAIN,
};
use tracing_subscriber::EnvFilter;

/// The mesh control plane: serves Istio-dialect YAML as xDS over ADS.
#[derive(Debug, Parser)]
#[command(name = "mesh-control", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve a directory of YAML over ADS, with the registry and the admin API.
    Serve(Serve),
    /// Ask a running control plane what it serves, as a client would:
    /// send requests to a target's gRPC health service through the mesh
    /// and print, as JSON, which endpoint served each and how many failed.
    Probe(Probe),
    /// Print a bootstrap token with which a workload gets its first
    /// certificate from the CA (`authorization: Bearer <token>`); later
    /// renewals authenticate with the current certificate instead.
    Token(Token),
}

#[derive(Debug, clap::Args)]
struct Token {
    /// The CA's directory (as given to `serve --ca-dir`).
    #[arg(long, value_name = "DIR", required_unless_present = "ca_plugged_certs")]
    ca_dir: Option<PathBuf>,
    /// The operator's CA files (as given to `serve --ca-plugged-certs`);
    /// their `token-key` signs the token.
    #[arg(long, value_name = "DIR", conflicts_with = "ca_dir")]
    ca_plugged_certs: Option<PathBuf>,
    /// The workload's namespace.
    #[arg(long, value_name = "NS", default_value = "default")]
    namespace: String,
    /// The workload's service account.
    #[arg(long, value_name = "SA")]
    service_account: String,
    /// The trust domain.
    #[arg(long, value_name = "DOMAIN", default_value = DEFAULT_TRUST_DOMAIN)]
    trust_domain: String,
    /// How long the token is good for, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    ttl: u64,
}

#[derive(Debug, clap::Args)]
struct Serve {
    /// The directory of *.yaml files (watched; changes are applied live).
    #[arg(long, value_name = "DIR")]
    config: PathBuf,
    /// Where to serve ADS and the registry.
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    listen: String,
    /// Where to serve the admin API.
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_ADMIN)]
    admin: String,
    /// The lease TTL for registrations that ask for none, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    lease_ttl: u64,
    /// Turn the certificate authority on, keeping its root in DIR
    /// (generated on first start).
    #[arg(long, value_name = "DIR", conflicts_with = "ca_plugged_certs")]
    ca_dir: Option<PathBuf>,
    /// Turn the certificate authority on with an operator's signing
    /// certificate from DIR (istiod's names: ca-cert.pem, ca-key.pem,
    /// cert-chain.pem, root-cert.pem, and optionally token-key).
    #[arg(long, value_name = "DIR")]
    ca_plugged_certs: Option<PathBuf>,
    /// Where the CA listens.
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_CA_LISTEN)]
    ca_listen: String,
    /// The trust domain of the CA's identities.
    #[arg(long, value_name = "DOMAIN", default_value = DEFAULT_TRUST_DOMAIN)]
    trust_domain: String,
}

#[derive(Debug, clap::Args)]
struct Probe {
    /// The control plane's xDS address (`host:port` or `http://host:port`).
    #[arg(long, value_name = "ADDR")]
    xds: String,
    /// The target, as clients dial it (`attendees:50051`).
    #[arg(long, value_name = "TARGET")]
    target: String,
    /// How many requests to send.
    #[arg(
        short = 'n',
        long = "requests",
        value_name = "N",
        default_value_t = 100
    )]
    requests: u64,
    /// The health service name to check (default: the whole server).
    #[arg(long, value_name = "NAME")]
    service: Option<String>,
    /// How long to wait for the target's configuration, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    wait: u64,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // Logs go to stderr: the probe's report is stdout.
    let default_level = match cli.command {
        Command::Serve(_) => "info",
        Command::Probe(_) | Command::Token(_) => "warn",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .init();
    let outcome = match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Probe(args) => probe(args).await,
        Command::Token(args) => token(args),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mesh-control: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(args: Serve) -> anyhow::Result<()> {
    let mut builder = ControlPlane::builder()
        .config_dir(&args.config)
        .listen(&args.listen)
        .admin(&args.admin)
        .lease_ttl(std::time::Duration::from_secs(args.lease_ttl))
        .trust_domain(&args.trust_domain)
        .ca_listen(&args.ca_listen);
    if let Some(dir) = &args.ca_dir {
        builder = builder.ca_dir(dir);
    }
    if let Some(dir) = &args.ca_plugged_certs {
        builder = builder.ca_plugged_certs(dir);
    }
    let running = builder.start().await?;
    if let Some(addr) = running.ca_addr() {
        println!("mesh-control: CA for {} on {addr}", args.trust_domain);
    }
    println!(
        "mesh-control: xDS and registry on {}, admin on http://{}",
        running.xds_addr(),
        running
            .admin_addr()
            .map(|a| a.to_string())
            .unwrap_or_default()
    );
    shutdown_signal().await.context("waiting for a signal")?;
    tracing::info!("shutting down");
    running.shutdown().await?;
    Ok(())
}

async fn probe(args: Probe) -> anyhow::Result<()> {
    let mut probe = mesh_control::probe::Probe::new(args.xds, args.target)
        .requests(args.requests)
        .wait(std::time::Duration::from_secs(args.wait));
    if let Some(service) = args.service {
        probe = probe.service(service);
    }
    let report = probe.run().await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

fn token(args: Token) -> anyhow::Result<()> {
    let ca = match (&args.ca_dir, &args.ca_plugged_certs) {
        (Some(dir), _) => CertificateAuthority::load_or_generate(dir, &args.trust_domain)
            .with_context(|| format!("opening the CA in {}", dir.display()))?,
        (None, Some(dir)) => {
            let files = mesh_ca::CaFiles::in_dir(dir);
            anyhow::ensure!(
                files.token_key.as_ref().is_some_and(|k| k.exists()),
                "{} has no token-key: without one the running CA signs tokens with a key of its own, which this command cannot know",
                dir.display()
            );
            CertificateAuthority::from_files(files, &args.trust_domain)
                .with_context(|| format!("opening the CA files in {}", dir.display()))?
        }
        (None, None) => anyhow::bail!("give --ca-dir or --ca-plugged-certs"),
    };
    let id =
        mesh_identity::SpiffeId::new(&args.trust_domain, &args.namespace, &args.service_account)?;
    println!(
        "{}",
        ca.bootstrap_token(&id, std::time::Duration::from_secs(args.ttl))
    );
    Ok(())
}

/// SIGINT or (on Unix) SIGTERM.
async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
