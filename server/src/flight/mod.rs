//! The Arrow Flight job server (`dotation serve`): notebooks upload datasets, submit job
//! specs, poll their progress, cancel them and fetch their result tables.
//!
//! - [`config`]: the TOML configuration ([`Config`]) and its defaults;
//! - [`auth`]: `Handshake` logins (Argon2 password hashes), bearer tokens;
//! - [`store`]: the data directory — blobs, results, the SQLite job catalogue;
//! - [`datasets`]: uploads, validated as the command line validates folders;
//! - [`queue`]: the bounded job queue and its workers (blocking threads);
//! - [`service`]: the `FlightService` itself;
//! - [`status`]: the one mapping of [`ServerError`] to gRPC statuses.
//!
//! [`Server::start`] runs a server on the current tokio runtime (tests bind
//! `127.0.0.1:0`); [`serve_command`] is the CLI's entry point.

pub mod auth;
pub mod config;
pub mod datasets;
pub mod queue;
pub mod service;
pub mod status;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use arrow_flight::flight_service_server::FlightServiceServer;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::Config;

use crate::error::ServerError;

/// Options of `dotation serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The configuration file (TOML; see server/dotation-server.example.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on, overriding the configuration's `listen`.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Data directory, overriding the configuration's `data_dir`.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Read a password on standard input, print its Argon2 hash for the configuration's
    /// [[auth.users]], and exit.
    #[arg(long)]
    pub hash_password: bool,
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    queue: Arc<queue::Queue>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl Server {
    /// Opens the data directory, recovers the job catalogue, binds the address and starts
    /// serving (on the current tokio runtime).
    pub async fn start(config: Config) -> Result<Server, ServerError> {
        config.check()?;
        let auth = Arc::new(auth::Authenticator::new(&config.auth)?);
        let dir = config.data_dir.clone();
        let store = Arc::new(
            tokio::task::spawn_blocking(move || store::Store::open(&dir))
                .await
                .map_err(|e| ServerError::Internal(e.to_string()))??,
        );
        let queue = queue::Queue::start(Arc::clone(&store), config.limits.clone())?;
        let service = service::Service::new(store, Arc::clone(&queue), auth, config.limits.clone());
        let limit = config.limits.max_message_bytes;
        let service = FlightServiceServer::new(service)
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit);
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| ServerError::Config(format!("cannot listen on {}: {e}", config.listen)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| ServerError::Config(e.to_string()))?;
        // HTTP/2's default flow-control windows (64 KiB) hold a large upload or download
        // to a few round trips' worth of data in flight: the windows adapt to the link
        // instead (a bandwidth-delay estimate, as gRPC's own servers do).
        let mut builder = tonic::transport::Server::builder().http2_adaptive_window(Some(true));
        if let Some(tls) = &config.tls {
            let read = |p: &PathBuf| {
                std::fs::read(p).map_err(|e| ServerError::Io {
                    path: p.clone(),
                    source: e,
                })
            };
            let identity = tonic::transport::Identity::from_pem(read(&tls.cert)?, read(&tls.key)?);
            builder = builder
                .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
                .map_err(|e| ServerError::Config(format!("TLS: {e}")))?;
        }
        let (stop, stopped) = oneshot::channel::<()>();
        // No Nagle delay on small answers (a status, a job id) after a large frame.
        let incoming =
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
        let task = tokio::spawn(builder.add_service(service).serve_with_incoming_shutdown(
            incoming,
            async move {
                let _ = stopped.await;
            },
        ));
        Ok(Server {
            addr,
            queue,
            stop: Some(stop),
            task,
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The job queue (to pause it for maintenance, or in tests).
    pub fn queue(&self) -> &queue::Queue {
        &self.queue
    }

    /// Stops accepting calls, interrupts running jobs (they stay queued in the catalogue
    /// and run again at the next start) and waits for the workers.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.queue.shutdown().await;
        if let Err(e) = (&mut self.task).await {
            tracing::warn!("the server task ended badly: {e}");
        }
    }
}

/// `dotation serve`.
pub fn serve_command(a: &ServeArgs, quiet: bool) -> Result<(), ServerError> {
    if a.hash_password {
        let mut password = String::new();
        std::io::stdin()
            .read_line(&mut password)
            .map_err(|e| ServerError::Config(format!("reading the password: {e}")))?;
        let password = password.trim_end_matches(['\r', '\n']);
        if password.is_empty() {
            return Err(ServerError::Config("empty password".into()));
        }
        println!("{}", auth::hash_password(password)?);
        return Ok(());
    }
    let mut config = match &a.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    if let Some(listen) = a.listen {
        config.listen = listen;
    }
    if let Some(dir) = &a.data_dir {
        config.data_dir = dir.clone();
    }
    config.check()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| ServerError::Internal(format!("starting the runtime: {e}")))?;
    runtime.block_on(async move {
        let data_dir = config.data_dir.clone();
        let tls = config.tls.is_some();
        let server = Server::start(config).await?;
        if !quiet {
            println!(
                "dotation serve: listening on {}://{} (data in {}); Ctrl-C stops",
                if tls { "grpc+tls" } else { "grpc" },
                server.addr(),
                data_dir.display()
            );
        }
        wait_for_stop().await;
        if !quiet {
            println!("dotation serve: stopping (running jobs will run again at the next start)");
        }
        server.shutdown().await;
        Ok(())
    })
}

/// Waits for Ctrl-C or SIGTERM.
async fn wait_for_stop() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
