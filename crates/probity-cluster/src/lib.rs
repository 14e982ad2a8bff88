//! Probity's detectors on an Apache Ballista cluster.
//!
//! A cluster is one scheduler and any number of executors
//! ([`run_scheduler`], [`run_executor`]; `probity cluster scheduler` and
//! `probity cluster executor` on the command line). [`Cluster`] is a
//! [`probity_detect::Engine`]: a plan put on it sends every detector's SQL to
//! the scheduler, which splits it into stages that the executors run,
//! reading the store's Parquet files through `object_store` at the paths the
//! plan names (a path every executor can read: the same machine, or a shared
//! file system).
//!
//! What stays in the client: the plan decides, as for a local run, which
//! tables a detector's session holds (only those it declares), so a
//! detector's plan names only files of its declared tables and the cluster
//! never sees another. Records, findings and the audit log stay with the
//! client; the cluster returns query results.
//!
//! Two things a plain Ballista deployment cannot carry travel in Probity's
//! plan codec ([`LogicalCodec`], [`PhysicalCodec`]), which client, scheduler
//! and executors all use:
//! - `local_date(ts)` carries the store's time-zone name, so dates are
//!   computed in the store's zone whichever machine runs the task;
//! - the small in-memory tables detectors register (candidate windows) are
//!   sent inside the plan as Arrow IPC.
//!
//! Ballista has no authentication on its ports: anyone who can reach a
//! scheduler can submit a plan that reads any file its executors can read.
//! The scheduler and executors therefore bind to loopback unless told that
//! the network is private to the cluster ([`Network::Trusted`]).

use std::io::Cursor;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use ballista::prelude::{SessionConfigExt, SessionContextExt};
use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::error::DataFusionError;
use datafusion::execution::TaskContext;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::{Extension, LogicalPlan, ScalarUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use probity_core::TimeRules;

pub use log::LevelFilter;

/// Largest plan or result message (bytes) any part of the cluster sends or
/// accepts: candidate windows travel inside plans.
pub const MAX_MESSAGE_BYTES: usize = 256 << 20;

/// Errors of the cluster library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A cluster address could not be read.
    #[error("cluster address {given:?}: {reason}")]
    Address {
        /// What was given.
        given: String,
        /// What is wrong, and the expected form.
        reason: String,
    },
    /// A port would be open beyond this machine without the operator saying
    /// the network is private to the cluster.
    #[error(
        "{role} would listen on {addr}, beyond this machine: Ballista has no authentication, so \
         anyone who can reach the port can read any file the executors can read; bind to \
         127.0.0.1, or pass --trust-network if {addr} is on a network private to the cluster"
    )]
    OpenNetwork {
        /// `scheduler` or `executor`.
        role: &'static str,
        /// The address.
        addr: SocketAddr,
    },
    /// Nothing answers at the scheduler's address.
    #[error(
        "no Ballista scheduler answers at {addr}: {source}; start one there (`probity cluster \
         scheduler --bind IP:PORT`, with --trust-network beyond loopback) and at least one \
         `probity cluster executor --scheduler df://{addr}`"
    )]
    Unreachable {
        /// The scheduler's address.
        addr: String,
        /// Why the connection failed.
        #[source]
        source: std::io::Error,
    },
    /// The executor's shuffle directory could not be made.
    #[error("the executor's work directory under {path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Ballista failed.
    #[error("ballista: {0}")]
    Ballista(String),
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Whether a port may listen beyond loopback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// Only loopback addresses (the default).
    LoopbackOnly,
    /// Any address: the operator has said the network is private to the
    /// cluster (`--trust-network`).
    Trusted,
}

fn check_bind(role: &'static str, addr: SocketAddr, network: Network) -> Result<()> {
    if addr.is_ipv6() {
        return Err(Error::Address {
            given: addr.to_string(),
            reason: format!(
                "{role} cannot listen on IPv6 (Ballista 55 writes HOST:PORT without brackets); \
                 give an IPv4 address such as 127.0.0.1:{}",
                addr.port()
            ),
        });
    }
    if network == Network::LoopbackOnly && !addr.ip().is_loopback() {
        return Err(Error::OpenNetwork { role, addr });
    }
    Ok(())
}

/// Reads a scheduler address, `df://HOST:PORT` (the form `probity analyze
/// --cluster` takes) or `HOST:PORT`, into host and port.
pub fn parse_address(given: &str) -> Result<(String, u16)> {
    let bad = |reason: &str| Error::Address {
        given: given.to_string(),
        reason: format!("{reason}; expected df://HOST:PORT, e.g. df://127.0.0.1:50050"),
    };
    let rest = match given.split_once("://") {
        Some(("df", rest)) => rest,
        Some((scheme, _)) => return Err(bad(&format!("unknown scheme {scheme:?}"))),
        None => given,
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = rest.rsplit_once(':').ok_or_else(|| bad("no port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(['/', '@', '?', '#']) {
        return Err(bad("no host"));
    }
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?;
    Ok((host.to_string(), port))
}

/// A Ballista cluster as the engine of an analysis.
#[derive(Debug, Clone)]
pub struct Cluster {
    url: String,
}

impl Cluster {
    /// Connects to the scheduler at `address` (`df://HOST:PORT`), failing
    /// at once, with what to start, when nothing answers there.
    pub async fn connect(address: &str) -> Result<Cluster> {
        let (host, port) = parse_address(address)?;
        let addr = format!("{host}:{port}");
        let reach = tokio::time::timeout(
            Duration::from_secs(10),
            tokio::net::TcpStream::connect(addr.clone()),
        )
        .await;
        match reach {
            Ok(Ok(_)) => {}
            Ok(Err(source)) => return Err(Error::Unreachable { addr, source }),
            Err(_) => {
                return Err(Error::Unreachable {
                    addr,
                    source: std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "no answer within 10 s",
                    ),
                });
            }
        }
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        Ok(Cluster {
            url: format!("df://{host}:{port}"),
        })
    }

    /// The scheduler's address, `df://HOST:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl probity_detect::Engine for Cluster {
    fn session(
        &self,
        config: SessionConfig,
    ) -> futures::future::BoxFuture<'_, probity_detect::Result<SessionContext>> {
        Box::pin(async move {
            let config = config
                .upgrade_for_ballista()
                .with_ballista_logical_extension_codec(Arc::new(LogicalCodec::default()))
                .with_ballista_physical_extension_codec(Arc::new(PhysicalCodec::default()))
                .with_ballista_grpc_client_max_message_size(MAX_MESSAGE_BYTES)
                .with_ballista_job_name("probity analyze");
            let state = SessionStateBuilder::new()
                .with_config(config)
                .with_default_features()
                .build();
            SessionContext::remote_with_state(&self.url, state)
                .await
                .map_err(|e| probity_detect::Error::query("cluster session", e))
        })
    }

    fn describe(&self) -> String {
        format!("ballista {}", self.url)
    }
}

/// Prints what Ballista logs at `level` and above on standard error, one
/// line each with the time (UTC), level and module. Once per process.
pub fn log_to_stderr(level: log::LevelFilter) {
    static LOGGER: Stderr = Stderr;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}

struct Stderr;

impl log::Log for Stderr {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            eprintln!(
                "{} {:<5} {}: {}",
                jiff::Timestamp::now()
                    .round(jiff::Unit::Millisecond)
                    .unwrap_or_default(),
                r.level(),
                r.target(),
                r.args()
            );
        }
    }

    fn flush(&self) {}
}

/// What `probity cluster scheduler` runs with.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Where the scheduler's gRPC port listens.
    pub bind: SocketAddr,
    /// Whether it may listen beyond loopback.
    pub network: Network,
}

impl SchedulerOptions {
    /// Refuses an address Ballista cannot use or that would be open beyond
    /// loopback without `--trust-network`. [`run_scheduler`] checks too;
    /// front ends call it first to report the problem before anything
    /// starts.
    pub fn check(&self) -> Result<()> {
        check_bind("the scheduler", self.bind, self.network)
    }
}

/// Runs a Ballista scheduler with Probity's plan codec until the process
/// ends.
pub async fn run_scheduler(opts: &SchedulerOptions) -> Result<()> {
    opts.check()?;
    let config = ballista_scheduler::config::SchedulerConfig {
        bind_host: opts.bind.ip().to_string(),
        bind_port: opts.bind.port(),
        external_host: opts.bind.ip().to_string(),
        override_logical_codec: Some(Arc::new(LogicalCodec::default())),
        override_physical_codec: Some(Arc::new(PhysicalCodec::default())),
        grpc_server_max_decoding_message_size: MAX_MESSAGE_BYTES as u32,
        grpc_server_max_encoding_message_size: MAX_MESSAGE_BYTES as u32,
        grpc_client_max_message_size: MAX_MESSAGE_BYTES as u32,
        ..Default::default()
    };
    let cluster = ballista_scheduler::cluster::BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| Error::Ballista(e.to_string()))?;
    ballista_scheduler::scheduler_process::start_server(cluster, opts.bind, Arc::new(config))
        .await
        .map_err(|e| Error::Ballista(e.to_string()))
}

/// What `probity cluster executor` runs with.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler's address (`df://HOST:PORT` or `HOST:PORT`).
    pub scheduler: String,
    /// Where the executor's Arrow Flight port (shuffle data) listens; its
    /// gRPC port is `grpc_port`.
    pub bind: SocketAddr,
    /// The executor's gRPC (task) port.
    pub grpc_port: u16,
    /// The host the scheduler and other executors reach this one at; the
    /// bind address when `None`.
    pub advertise: Option<String>,
    /// Tasks run at once.
    pub cores: usize,
    /// The directory under which the executor makes its own directory for
    /// shuffle files: a new one, private to this user, at every start.
    /// Ballista deletes what it finds in its directory, so it is never a
    /// directory that holds anything else.
    pub work_base: PathBuf,
    /// Whether it may listen beyond loopback.
    pub network: Network,
}

/// An executor ready to run: its addresses checked and its shuffle
/// directory made ([`ExecutorOptions::prepare`]).
pub struct Executor {
    config: ballista_executor::executor_process::ExecutorProcessConfig,
    work_dir: PathBuf,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("work_dir", &self.work_dir)
            .finish_non_exhaustive()
    }
}

impl ExecutorOptions {
    /// Checks the addresses (loopback unless trusted, IPv4, an address to
    /// advertise) and makes the executor's private shuffle directory.
    pub fn prepare(&self) -> Result<Executor> {
        check_bind("the executor", self.bind, self.network)?;
        check_bind(
            "the executor",
            SocketAddr::new(self.bind.ip(), self.grpc_port),
            self.network,
        )?;
        let (scheduler_host, scheduler_port) = parse_address(&self.scheduler)?;
        let scheduler_host = resolve_host(&scheduler_host).ok_or_else(|| Error::Address {
            given: self.scheduler.clone(),
            reason: "the host has no IPv4 address here".into(),
        })?;
        let advertise = match &self.advertise {
            Some(h) => h.clone(),
            None if self.bind.ip().is_unspecified() => {
                return Err(Error::Address {
                    given: self.bind.to_string(),
                    reason: "an executor bound to every interface needs --advertise HOST, the \
                             address the scheduler and other executors reach it at"
                        .into(),
                });
            }
            None => self.bind.ip().to_string(),
        };
        let work_dir = fresh_private_dir(&self.work_base)?;
        let config = ballista_executor::executor_process::ExecutorProcessConfig {
            bind_host: self.bind.ip().to_string(),
            external_host: Some(advertise),
            port: self.bind.port(),
            grpc_port: self.grpc_port,
            scheduler_host,
            scheduler_port,
            scheduler_connect_timeout_seconds: 30,
            vcores: self.cores.max(1),
            work_dir: Some(work_dir.to_string_lossy().into_owned()),
            print_thread_info: false,
            grpc_max_decoding_message_size: MAX_MESSAGE_BYTES as u32,
            grpc_max_encoding_message_size: MAX_MESSAGE_BYTES as u32,
            // Shuffle files of finished jobs: the scheduler has them deleted
            // minutes after the job; the executor deletes any left after an
            // hour.
            job_data_ttl_seconds: 3600,
            job_data_clean_up_interval_seconds: 600,
            override_logical_codec: Some(Arc::new(LogicalCodec::default())),
            override_physical_codec: Some(Arc::new(PhysicalCodec::default())),
            ..Default::default()
        };
        Ok(Executor { config, work_dir })
    }
}

impl Executor {
    /// Its private shuffle directory.
    pub fn work_dir(&self) -> &std::path::Path {
        &self.work_dir
    }

    /// Runs until the process ends.
    pub async fn run(self) -> Result<()> {
        ballista_executor::executor_process::start_executor_process(Arc::new(self.config))
            .await
            .map_err(|e| Error::Ballista(e.to_string()))
    }
}

/// An IPv4 address for a host name (Ballista's executor writes the
/// scheduler's address as `http://HOST:PORT`, so no IPv6).
fn resolve_host(host: &str) -> Option<String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return ip.is_ipv4().then(|| host.to_string());
    }
    (host, 0)
        .to_socket_addrs()
        .ok()?
        .find(|a| a.is_ipv4())
        .map(|a| a.ip().to_string())
}

/// Makes a new directory with a random name under `base` (created if
/// missing, never through a symbolic link), readable by this user only:
/// shuffle files hold intermediate results of detectors' queries, and
/// Ballista deletes whatever it finds in its directory.
fn fresh_private_dir(base: &std::path::Path) -> Result<PathBuf> {
    let io = |source| Error::Io {
        path: base.to_path_buf(),
        source,
    };
    if let Ok(m) = std::fs::symlink_metadata(base) {
        if !m.is_dir() {
            return Err(io(std::io::Error::other(
                "not a directory (a symbolic link is refused too): give --work-dir a directory",
            )));
        }
    } else {
        std::fs::create_dir_all(base).map_err(io)?;
    }
    // tempfile makes the directory 0700, with a name nobody can guess.
    let dir = tempfile::Builder::new()
        .prefix("probity-executor-")
        .tempdir_in(base)
        .map_err(io)?;
    Ok(dir.keep())
}

const MEM_TABLE: &[u8] = b"probity.mem.v1\n";
const LOCAL_DATE: &[u8] = b"probity.local_date.v1\n";
const IS_NONE: &[u8] = b"probity.is_none.v1\n";

fn encode_mem_table(table: &MemTable, buf: &mut Vec<u8>) -> datafusion::error::Result<()> {
    let mut batches: Vec<RecordBatch> = vec![];
    for part in &table.batches {
        let part = part.try_read().map_err(|_| {
            DataFusionError::Internal("an in-memory table is being written while sent".into())
        })?;
        batches.extend(part.iter().cloned());
    }
    buf.extend_from_slice(MEM_TABLE);
    let mut w = arrow::ipc::writer::StreamWriter::try_new(&mut *buf, &table.schema())?;
    for b in &batches {
        w.write(b)?;
    }
    w.finish()?;
    Ok(())
}

fn decode_mem_table(bytes: &[u8], schema: SchemaRef) -> datafusion::error::Result<MemTable> {
    let reader = arrow::ipc::reader::StreamReader::try_new(Cursor::new(bytes), None)?;
    let batches = reader.collect::<std::result::Result<Vec<_>, _>>()?;
    MemTable::try_new(schema, vec![batches])
}

fn encode_udf(node: &ScalarUDF, buf: &mut Vec<u8>) -> bool {
    if let Some(zone) = probity_detect::local_date_zone(node) {
        buf.extend_from_slice(LOCAL_DATE);
        buf.extend_from_slice(zone.as_bytes());
        return true;
    }
    if node.name() == "is_none" {
        // Stateless: the force's spellings are the call's literal arguments.
        buf.extend_from_slice(IS_NONE);
        return true;
    }
    false
}

fn decode_udf(name: &str, buf: &[u8]) -> Option<datafusion::error::Result<Arc<ScalarUDF>>> {
    if let Some(rest) = buf.strip_prefix(IS_NONE) {
        return Some(if name == "is_none" && rest.is_empty() {
            Ok(Arc::new(probity_detect::is_none_udf()))
        } else {
            Err(DataFusionError::Internal(format!(
                "is_none's encoding was sent with the function {name}"
            )))
        });
    }
    let zone = buf.strip_prefix(LOCAL_DATE)?;
    Some((|| {
        if name != "local_date" {
            return Err(DataFusionError::Internal(format!(
                "a time zone was sent with the function {name}, not local_date"
            )));
        }
        let zone = std::str::from_utf8(zone)
            .map_err(|e| DataFusionError::Internal(format!("local_date's zone: {e}")))?;
        let tz = TimeRules::new(zone)
            .map_err(|e| DataFusionError::Plan(format!("local_date's zone: {e}")))?;
        Ok(Arc::new(probity_detect::local_date_udf(&tz)))
    })())
}

/// Ballista's logical plan codec, plus in-memory tables and `local_date`.
/// (Ballista's codecs leave aggregate and window functions to the trait's
/// defaults, as this one does.)
#[derive(Debug, Default)]
pub struct LogicalCodec {
    inner: BallistaLogicalExtensionCodec,
}

impl LogicalExtensionCodec for LogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> datafusion::error::Result<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> datafusion::error::Result<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> datafusion::error::Result<Arc<dyn TableProvider>> {
        match buf.strip_prefix(MEM_TABLE) {
            Some(ipc) => Ok(Arc::new(decode_mem_table(ipc, schema)?)),
            None => self
                .inner
                .try_decode_table_provider(buf, table_ref, schema, ctx),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> datafusion::error::Result<()> {
        let any: &dyn std::any::Any = node.as_ref();
        match any.downcast_ref::<MemTable>() {
            Some(mem) => encode_mem_table(mem, buf),
            None => self.inner.try_encode_table_provider(table_ref, node, buf),
        }
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> datafusion::error::Result<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> datafusion::error::Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> datafusion::error::Result<Arc<ScalarUDF>> {
        match decode_udf(name, buf) {
            Some(f) => f,
            None => self.inner.try_decode_udf(name, buf),
        }
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> datafusion::error::Result<()> {
        if encode_udf(node, buf) {
            return Ok(());
        }
        self.inner.try_encode_udf(node, buf)
    }
}

/// Ballista's physical plan codec, plus `local_date`. (In-memory scans
/// serialise themselves in physical plans.)
#[derive(Debug, Default)]
pub struct PhysicalCodec {
    inner: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for PhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        self.inner.try_decode(buf, inputs, ctx, proto_converter)
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> datafusion::error::Result<()> {
        self.inner.try_encode(node, buf, proto_converter)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> datafusion::error::Result<Arc<ScalarUDF>> {
        match decode_udf(name, buf) {
            Some(f) => f,
            None => self.inner.try_decode_udf(name, buf),
        }
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> datafusion::error::Result<()> {
        if encode_udf(node, buf) {
            return Ok(());
        }
        self.inner.try_encode_udf(node, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_read_in_the_forms_users_type_and_refused_with_the_expected_form() {
        assert_eq!(
            parse_address("df://127.0.0.1:50050").unwrap(),
            ("127.0.0.1".into(), 50050)
        );
        assert_eq!(
            parse_address("sched.internal:7000/").unwrap(),
            ("sched.internal".into(), 7000)
        );
        assert_eq!(
            parse_address("df://[::1]:50050").unwrap(),
            ("::1".into(), 50050)
        );
        for bad in [
            "http://127.0.0.1:50050",
            "df://127.0.0.1",
            "df://:50050",
            "df://h:0",
            "df://h:99999",
            "df://u@h:1",
        ] {
            let e = parse_address(bad).unwrap_err().to_string();
            assert!(e.contains("df://HOST:PORT"), "{bad}: {e}");
        }
    }

    #[test]
    fn ports_stay_on_loopback_unless_the_network_is_trusted() {
        let open: SocketAddr = "0.0.0.0:50050".parse().unwrap();
        let lan: SocketAddr = "10.1.2.3:50050".parse().unwrap();
        let lo: SocketAddr = "127.0.0.1:50050".parse().unwrap();
        let lo6: SocketAddr = "[::1]:50050".parse().unwrap();
        let e = check_bind("the scheduler", lo6, Network::Trusted).unwrap_err();
        assert!(e.to_string().contains("IPv4"), "{e}");
        for a in [open, lan] {
            let e = check_bind("the scheduler", a, Network::LoopbackOnly).unwrap_err();
            assert!(e.to_string().contains("--trust-network"), "{e}");
            check_bind("the scheduler", a, Network::Trusted).unwrap();
        }
        check_bind("the scheduler", lo, Network::LoopbackOnly).unwrap();
    }

    #[test]
    fn local_date_travels_with_its_zone_and_a_forged_zone_is_refused() {
        let tz = TimeRules::new("Europe/London").unwrap();
        let f = probity_detect::local_date_udf(&tz);
        let codec = PhysicalCodec::default();
        let mut buf = vec![];
        codec.try_encode_udf(&f, &mut buf).unwrap();
        let back = codec.try_decode_udf("local_date", &buf).unwrap();
        assert_eq!(
            probity_detect::local_date_zone(&back),
            Some("Europe/London")
        );
        let logical = LogicalCodec::default();
        let back = logical.try_decode_udf("local_date", &buf).unwrap();
        assert_eq!(
            probity_detect::local_date_zone(&back),
            Some("Europe/London")
        );

        let mut forged = LOCAL_DATE.to_vec();
        forged.extend_from_slice(b"Mars/Olympus");
        assert!(codec.try_decode_udf("local_date", &forged).is_err());
        assert!(codec.try_decode_udf("upper", &buf).is_err());
    }

    #[test]
    fn is_none_travels_by_name_and_nothing_else_decodes_as_it() {
        let f = probity_detect::is_none_udf();
        let codec = PhysicalCodec::default();
        let mut buf = vec![];
        codec.try_encode_udf(&f, &mut buf).unwrap();
        assert_eq!(buf, IS_NONE);
        let back = codec.try_decode_udf("is_none", &buf).unwrap();
        assert_eq!(back.name(), "is_none");
        assert!(codec.try_decode_udf("upper", &buf).is_err());
        let logical = LogicalCodec::default();
        let mut buf = vec![];
        logical.try_encode_udf(&f, &mut buf).unwrap();
        assert_eq!(
            logical.try_decode_udf("is_none", &buf).unwrap().name(),
            "is_none"
        );
        let mut padded = IS_NONE.to_vec();
        padded.extend_from_slice(b"extra");
        assert!(logical.try_decode_udf("is_none", &padded).is_err());
    }

    #[test]
    fn an_in_memory_table_crosses_the_codec_with_every_row() {
        use arrow::array::{Int64Array, StringArray};
        use arrow::datatypes::{DataType, Field, Schema};
        let schema = Arc::new(Schema::new(vec![
            Field::new("wid", DataType::Int64, false),
            Field::new("person_id", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3])),
                Arc::new(StringArray::from(vec![Some("P1"), None, Some("P3")])),
            ],
        )
        .unwrap();
        let table = MemTable::try_new(schema.clone(), vec![vec![batch.clone()]]).unwrap();
        let codec = LogicalCodec::default();
        let mut buf = vec![];
        codec
            .try_encode_table_provider(&TableReference::bare("w"), Arc::new(table), &mut buf)
            .unwrap();
        let ctx = SessionContext::new();
        let back = codec
            .try_decode_table_provider(&buf, &TableReference::bare("w"), schema, &ctx.task_ctx())
            .unwrap();
        let any: &dyn std::any::Any = back.as_ref();
        let mem = any.downcast_ref::<MemTable>().unwrap();
        let rows = mem.batches[0].try_read().unwrap().clone();
        assert_eq!(rows, vec![batch]);
    }
}
