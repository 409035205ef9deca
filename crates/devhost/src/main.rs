//! devhost: a Spin-compatible local host on wasmtime. It runs this app's
//! `spin.toml` the way `spin up` does, for tests and for machines without
//! the `spin` CLI.
//!
//! One module per capability, each split like Spin's factors: `mod.rs` says
//! what the capability is and how a component is granted it, `host.rs`
//! implements its WIT, and the backend sits beside them.

mod app;
mod blocked_networks;
mod guest;
mod http;
mod idle;
mod key_value;
mod manifest;
mod outbound_hosts;
mod output;
mod redis;
mod runtime_config;
mod sqlite;
mod state;
#[cfg(test)]
mod test_dir;
mod variables;

mod bindings {
    include!(concat!(env!("OUT_DIR"), "/spin_bindings.rs"));
}

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};

const USAGE: &str = "usage: devhost up [--from spin.toml] [--listen 127.0.0.1:3000] \
[--runtime-config-file FILE] [--state-dir DIR] [--cache-dir DIR] [--tls-cert FILE --tls-key FILE]";

struct Args {
    options: app::Options,
    listen: String,
    /// `--tls-cert` and `--tls-key`: serve https.
    tls: Option<(PathBuf, PathBuf)>,
}

fn parse_args() -> Result<Args> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("up") => {}
        Some("-h" | "--help") | None => {
            println!("{USAGE}");
            std::process::exit(0);
        }
        Some(other) => bail!("unknown command {other:?}\n{USAGE}"),
    }
    let mut options = app::Options {
        manifest: PathBuf::from("spin.toml"),
        runtime_config: None,
        state_dir: None,
        cache_dir: None,
    };
    let mut listen = "127.0.0.1:3000".to_owned();
    let (mut tls_cert, mut tls_key) = (None, None);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--from" | "-f" => options.manifest = PathBuf::from(value()?),
            "--listen" => listen = value()?,
            "--runtime-config-file" => options.runtime_config = Some(PathBuf::from(value()?)),
            "--state-dir" => options.state_dir = Some(PathBuf::from(value()?)),
            "--cache-dir" => options.cache_dir = Some(PathBuf::from(value()?)),
            "--tls-cert" => tls_cert = Some(PathBuf::from(value()?)),
            "--tls-key" => tls_key = Some(PathBuf::from(value()?)),
            other => bail!("unknown option {other:?}\n{USAGE}"),
        }
    }
    let tls = match (tls_cert, tls_key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => bail!("--tls-cert and --tls-key go together\n{USAGE}"),
    };
    Ok(Args {
        options,
        listen,
        tls,
    })
}

fn main() {
    guest::runtime().block_on(serve());
}

async fn serve() {
    if let Err(e) = run().await {
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> Result<()> {
    let args = parse_args()?;
    let app = Arc::new(app::App::load(&args.options)?);
    let subscriptions = redis::trigger::subscriptions(&app)?;
    let redis = tokio::spawn(redis::trigger::run(app.clone(), subscriptions));
    // Like `spin up`, an app without HTTP triggers listens on no port.
    let server = if app.manifest.trigger.http.is_empty() {
        println!(
            "devhost: {} has no HTTP triggers",
            app.manifest.application.name
        );
        tokio::spawn(std::future::pending::<Result<()>>())
    } else {
        let tls = match &args.tls {
            Some((cert, key)) => Some(http::tls::acceptor(cert, key)?),
            None => None,
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let http = Arc::new(http::HttpTrigger::new(app.clone())?);
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        println!(
            "Serving {} on {scheme}://{}",
            app.manifest.application.name,
            listener.local_addr()?
        );
        println!("Available Routes:");
        for route in http.routes() {
            println!("{route}");
        }
        tokio::spawn(http.serve(listener, tls))
    };
    tokio::select! {
        result = server => result??,
        // As `spin up` does: a trigger that ends takes the app with it.
        error = redis => {
            let error = error.unwrap_or_else(|e| anyhow::anyhow!("{e}"));
            eprintln!("devhost: {error:#}");
            bail!("A trigger exited unexpectedly. Terminating.");
        }
        _ = shutdown_signal() => println!("devhost: shutting down"),
    }
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("signal handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
