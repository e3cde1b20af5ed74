//! `mesh-control`: the mesh's control plane as a program.
//!
//! ```text
//! mesh-control serve --config deploy/mesh --listen 127.0.0.1:15010 --admin 127.0.0.1:15014
//! mesh-control probe --xds 127.0.0.1:15010 --target attendees:50051 -n 100
//! ```

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use mesh_control::{ControlPlane, DEFAULT_ADMIN, DEFAULT_LISTEN};
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
        Command::Probe(_) => "warn",
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
    let running = ControlPlane::builder()
        .config_dir(&args.config)
        .listen(&args.listen)
        .admin(&args.admin)
        .lease_ttl(std::time::Duration::from_secs(args.lease_ttl))
        .start()
        .await?;
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
