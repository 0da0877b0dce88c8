// SPDX-License-Identifier: MIT OR Apache-2.0
//! The control protocol between `rvsd` and its clients (`rvsadm`, `rvs`).
//!
//! The wire format is documented in `PROTOCOL.md` next to this crate. In short: on a Unix
//! stream socket, each message is a 4-byte big-endian length followed by that many bytes of
//! JSON, an [`Envelope`] carrying the protocol [`VERSION`] and a [`Request`] or [`Response`].
//! One connection may carry any number of request/response pairs, strictly alternating.
//!
//! This crate holds types and framing only; what a request does is the daemon's business.
#![deny(unsafe_code)]

use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::path::Path;

use rvs_model::marks::MarkRule;
use rvs_model::stats::{Counters, Rates};
use rvs_model::{
    DaemonConfig, DestConfig, Protocol, ServiceConfig, ServiceKey, SyncRole, Timeouts,
};
use serde::{Deserialize, Serialize};

pub mod packed;

/// The protocol version this crate speaks.
pub const VERSION: u32 = 2;
/// Requests longer than this are refused (and the connection closed).
pub const MAX_REQUEST_BYTES: u32 = 16 << 20;
/// Responses longer than this are refused by clients.
pub const MAX_RESPONSE_BYTES: u32 = 1 << 30;
/// Default socket path.
pub const DEFAULT_SOCKET: &str = "/run/rvs/rvsd.sock";
/// Environment variable naming the socket path for clients.
pub const SOCKET_ENV: &str = "RVS_SOCKET";

/// Every message on the wire.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// Protocol version of the sender.
    pub version: u32,
    /// The request or response.
    pub body: T,
}

/// What a client asks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// Version and connection table size.
    Info,
    /// Every service with its dests and counters.
    ListServices,
    /// One service.
    GetService(ServiceKey),
    /// The connection table.
    ListConns,
    /// The `--set` timeouts.
    GetTimeouts,
    /// Running sync daemons, master first.
    ListDaemons,
    /// Everything, for `rvs status`.
    Status,
    /// `-A`.
    AddService(ServiceConfig),
    /// `-E`.
    EditService(ServiceConfig),
    /// `-D`.
    DelService(ServiceKey),
    /// `-C`.
    Flush,
    /// `-a`.
    AddDest {
        /// Service.
        service: ServiceKey,
        /// Dest settings.
        dest: DestConfig,
    },
    /// `-e`.
    EditDest {
        /// Service.
        service: ServiceKey,
        /// Dest settings.
        dest: DestConfig,
    },
    /// `-d`.
    DelDest {
        /// Service.
        service: ServiceKey,
        /// Dest address.
        addr: IpAddr,
        /// Dest port.
        port: u16,
    },
    /// `-Z`.
    Zero(Option<ServiceKey>),
    /// `--set`.
    SetTimeouts {
        /// ESTABLISHED timeout, 0 = unchanged.
        tcp: u32,
        /// FIN_WAIT timeout, 0 = unchanged.
        tcp_fin: u32,
        /// UDP timeout, 0 = unchanged.
        udp: u32,
    },
    /// `--start-daemon`.
    StartDaemon(DaemonConfig),
    /// `--stop-daemon`.
    StopDaemon(SyncRole),
    /// `rvs fwmark add`: a marking rule for fwmark services.
    AddMark(MarkRule),
    /// `rvs fwmark del`: one rule, or (`rule: None`) every rule of `mark`.
    DelMark {
        /// The mark.
        mark: u32,
        /// The exact rule to delete.
        rule: Option<MarkRule>,
    },
    /// `rvs fwmark list`.
    ListMarks,
    /// Detach the packet path, remove its pins, and stop the daemon (`rvs down`). The
    /// configuration is kept.
    Down,
    /// Changes applied one after the other, each answered on its own (as `-R` lines are), and
    /// saved once at the end. Only changing requests may be batched.
    Batch(Vec<Request>),
    /// Read a keepalived.conf and apply its virtual servers (changes only), starting and
    /// stopping checkers to match (`rvs reload`, SIGHUP); with `dry_run`, only say what
    /// would change (`rvs apply FILE --dry-run`). `path: None` is rvsd's `--config` file; a
    /// different file is only read with `dry_run`. Answered with [`Response::Plan`].
    LoadConfig {
        /// The file, absolute; `None`: rvsd's own.
        path: Option<std::path::PathBuf>,
        /// Change nothing.
        dry_run: bool,
    },
    /// What the loaded program would do with one packet, changing nothing live (`rvs
    /// trace`). Needs root, as it loads a second instance of the program. Answered with
    /// [`Response::Trace`].
    Trace(TraceQuery),
}

/// The packet `rvs trace` asks about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceQuery {
    /// `tcp` or `udp`.
    pub protocol: Protocol,
    /// The client's address and port.
    pub client: std::net::SocketAddr,
    /// The virtual service's address and port.
    pub vip: std::net::SocketAddr,
    /// A TCP SYN (otherwise a TCP ACK); ignored for UDP.
    pub syn: bool,
    /// The interface the packet arrives on (default: the first rvsd is attached to).
    pub iface: Option<String>,
}

/// What the program would do with a packet, as `rvs trace` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceView {
    /// The packet: protocol, addresses, flags, interface.
    pub packet: String,
    /// The service it is for (as `-Ln` names it), if any.
    pub service: Option<String>,
    /// The connection entry found for it, or why none was used.
    pub entry: String,
    /// Why the dest was chosen: scheduler, weights, counts, hash slot.
    pub why: Vec<String>,
    /// The dest the packet goes to (`ADDR:PORT`), if any.
    pub dest: Option<String>,
    /// `Route`, `Masq` or `Tunnel` (as `-Ln` prints the forwarding method).
    pub method: Option<String>,
    /// What the program changed in the frame, one line per field.
    pub rewrite: Vec<String>,
    /// The XDP action, and where a redirect goes.
    pub verdict: String,
    /// Why the packet was not forwarded (the packet path's pass/drop reasons).
    pub reasons: Vec<String>,
    /// The entry as it would be after the packet: state, timeout.
    pub after: Option<String>,
    /// What the counters would add.
    pub counters: Vec<String>,
}

impl Request {
    /// Whether the request changes configuration (and so needs root).
    pub fn is_change(&self) -> bool {
        !matches!(
            self,
            Request::Info
                | Request::ListServices
                | Request::GetService(_)
                | Request::ListConns
                | Request::GetTimeouts
                | Request::ListDaemons
                | Request::Status
                | Request::ListMarks
                | Request::Trace(_)
        )
    }

    /// Whether only root may ask it: changes, and traces (which load a program).
    pub fn needs_root(&self) -> bool {
        self.is_change() || matches!(self, Request::Trace(_))
    }
}

/// What the daemon answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// Done.
    Ok,
    /// Refused; nothing changed.
    Error(ErrorReply),
    /// Answer to [`Request::Info`].
    Info(Info),
    /// Answer to [`Request::ListServices`].
    Services(Vec<ServiceView>),
    /// Answer to [`Request::GetService`].
    Service(ServiceView),
    /// Answer to [`Request::ListConns`] (see [`packed`]): its last part, after any number of
    /// [`Response::ConnsPart`]s. [`Client::call`] joins them.
    Conns(packed::PackedConns),
    /// A part of the answer to [`Request::ListConns`]; more follow. rvsd sends a large table
    /// in parts so that the client decodes one while the next is read.
    ConnsPart(packed::PackedConns),
    /// Answer to [`Request::GetTimeouts`].
    Timeouts(Timeouts),
    /// Answer to [`Request::ListDaemons`].
    Daemons(Vec<DaemonConfig>),
    /// Answer to [`Request::Status`].
    Status(Box<StatusView>),
    /// One response per batched request.
    Batch(Vec<Response>),
    /// Answer to [`Request::ListMarks`], in match order.
    Marks(Vec<MarkRule>),
    /// Answer to [`Request::LoadConfig`].
    Plan(ConfigPlan),
    /// Answer to [`Request::Trace`].
    Trace(Box<TraceView>),
}

/// What applying a configuration file changes (or changed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigPlan {
    /// The file read.
    pub file: String,
    /// One line per change: services, dests, weights, checkers. Empty: nothing to do.
    pub changes: Vec<String>,
    /// Parts of the file rvs does not use, one line each.
    pub notes: Vec<String>,
    /// Whether the changes were only computed.
    pub dry_run: bool,
}

/// The configuration file rvsd follows (`--config`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigView {
    /// The file.
    pub file: String,
    /// When it was last applied (seconds since the epoch), if ever.
    pub applied_at: Option<u64>,
    /// Why the last reading failed (`file:line: ...`); the configuration before it stands.
    pub error: Option<String>,
    /// Parts of the file rvs does not use.
    pub notes: Vec<String>,
}

/// One checker of a real server and what it last found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckerView {
    /// keepalived's name (`HTTP_GET`, `TCP_CHECK`, ...).
    pub kind: String,
    /// What it checks (`10.0.0.1:80 /health`, a command line).
    pub target: String,
    /// Passing.
    pub up: bool,
    /// Since when (seconds since the epoch): its start, or its last change.
    pub since: u64,
    /// When it last ran (seconds since the epoch).
    pub last_check: Option<u64>,
    /// The last failure's reason, kept after it recovers.
    pub last_error: Option<String>,
    /// A weight set by `misc_dynamic`.
    pub dynamic_weight: Option<i32>,
    /// Attempts that passed.
    #[serde(default)]
    pub passes: u64,
    /// Attempts that failed (retries included).
    #[serde(default)]
    pub failures: u64,
    /// How long the last attempt took, in milliseconds.
    #[serde(default)]
    pub last_duration_ms: Option<f64>,
}

/// A real server of a configured virtual server and its health.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RealServerHealth {
    /// The virtual server, as the file names it (`10.0.0.1 80`, `group web`).
    pub virtual_server: String,
    /// Real server address.
    pub addr: IpAddr,
    /// Real server port.
    pub port: u16,
    /// Every checker passes (or it has none).
    pub up: bool,
    /// Since when (seconds since the epoch).
    pub since: u64,
    /// Its checkers.
    pub checkers: Vec<CheckerView>,
}

/// A refusal: the errno the kernel would give (so `rvsadm` prints ipvsadm's message) and a
/// sentence for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// Linux errno.
    pub errno: i32,
    /// Human-readable reason.
    pub message: String,
}

/// Daemon identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    /// IPVS version reported (1.2.1, as the kernel).
    pub ipvs_version: [u8; 3],
    /// Connection table size shown as `(size=N)`.
    pub conn_tab_size: u32,
    /// rvsd's own version.
    pub rvsd_version: String,
}

/// A service as listings show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceView {
    /// Settings.
    pub config: ServiceConfig,
    /// Counters since the last `-Z`.
    pub stats: Counters,
    /// Estimated rates.
    pub rates: Rates,
    /// Dests in list order (newest first).
    pub dests: Vec<DestView>,
}

/// A dest as listings show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DestView {
    /// Settings.
    pub config: DestConfig,
    /// ActiveConn.
    pub active_conns: u32,
    /// InActConn.
    pub inact_conns: u32,
    /// PersistConn.
    pub persist_conns: u32,
    /// OVERLOAD flag.
    pub overload: bool,
    /// Counters since the last `-Z`.
    pub stats: Counters,
    /// Estimated rates.
    pub rates: Rates,
}

/// A connection entry as `-Lc` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnView {
    /// IP protocol number (0 for fwmark templates).
    pub protocol: u8,
    /// Client address.
    pub caddr: IpAddr,
    /// Client port.
    pub cport: u16,
    /// Virtual address.
    pub vaddr: IpAddr,
    /// Virtual port.
    pub vport: u16,
    /// Real server address.
    pub daddr: IpAddr,
    /// Real server port.
    pub dport: u16,
    /// State name.
    pub state: String,
    /// Seconds until expiry.
    pub expires: u32,
    /// Persistence engine name, if any.
    #[serde(default)]
    pub pe_name: String,
    /// Persistence engine data, if any.
    #[serde(default)]
    pub pe_data: String,
}

/// Everything `rvs status` reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusView {
    /// Identity.
    pub info: Info,
    /// What the packet path is doing (e.g. "control plane only").
    pub packet_path: String,
    /// What the packet path does not cover of the configuration, and dests it cannot reach.
    #[serde(default)]
    pub packet_notes: Vec<String>,
    /// Services.
    pub services: Vec<ServiceView>,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Sync daemons.
    pub daemons: Vec<DaemonConfig>,
    /// Total counters.
    pub total: Counters,
    /// Total rates.
    pub total_rates: Rates,
    /// What the packet path did besides forwarding, as (reason, packets) for every reason
    /// counted so far (`rvs_common::reason::NAMES`): passed to the stack, dropped, refused
    /// because the connection table was full, embryonic entries evicted.
    #[serde(default)]
    pub packet_counters: Vec<(String, u64)>,
    /// The keepalived.conf rvsd follows, if any.
    #[serde(default)]
    pub config: Option<ConfigView>,
    /// The real servers of its virtual servers, with their checkers.
    #[serde(default)]
    pub health: Vec<RealServerHealth>,
    /// The sync daemons' counters since rvsd started.
    #[serde(default)]
    pub sync: SyncView,
}

/// What the sync daemons did since rvsd started.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncView {
    /// Messages the master sent.
    pub sent_messages: u64,
    /// Connection records the master sent.
    pub sent_conns: u64,
    /// Messages the master could not send.
    pub send_errors: u64,
    /// Messages the backup received and used.
    pub received_messages: u64,
    /// Connection records in them.
    pub received_conns: u64,
    /// Messages the backup dropped: malformed, truncated, wrong version.
    pub dropped_messages: u64,
    /// Messages of another syncid, ignored.
    pub other_syncid: u64,
    /// Records entered as new connections.
    pub created: u64,
    /// Records that updated a connection.
    pub updated: u64,
    /// Records left aside: no such service or dest here, templates, stale records.
    pub ignored: u64,
}

/// Framing failures.
#[derive(Debug)]
pub enum FrameError {
    /// The peer closed the stream cleanly between messages.
    Closed,
    /// The stream ended inside a message.
    Truncated,
    /// The announced length exceeds the limit.
    TooLarge(u32),
    /// The bytes are not a valid message.
    Malformed(String),
    /// The envelope's version is not ours.
    Version(u32),
    /// Transport error.
    Io(io::Error),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Closed => write!(f, "connection closed"),
            FrameError::Truncated => write!(f, "message truncated"),
            FrameError::TooLarge(n) => write!(f, "message of {n} bytes is too large"),
            FrameError::Malformed(e) => write!(f, "malformed message: {e}"),
            FrameError::Version(v) => {
                write!(
                    f,
                    "protocol version {v} not supported (this side speaks {VERSION})"
                )
            }
            FrameError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Writes one message.
pub fn write_message<T: Serialize>(w: &mut impl Write, body: &T) -> io::Result<()> {
    // The length goes in front once the body is written (no second copy of a large one).
    let mut buf = vec![0u8; 4];
    serde_json::to_writer(
        &mut buf,
        &Envelope {
            version: VERSION,
            body,
        },
    )
    .map_err(io::Error::other)?;
    let len = u32::try_from(buf.len() - 4).map_err(|_| io::Error::other("message too large"))?;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    w.write_all(&buf)?;
    w.flush()
}

/// Reads the raw bytes of one message, enforcing `limit`.
pub fn read_frame(r: &mut impl Read, limit: u32) -> Result<Vec<u8>, FrameError> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Err(FrameError::Closed),
            Ok(0) => return Err(FrameError::Truncated),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
    let len = u32::from_be_bytes(len);
    if len > limit {
        return Err(FrameError::TooLarge(len));
    }
    let mut buf = vec![0u8; len as usize];
    r.read_exact(&mut buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => FrameError::Truncated,
        _ => FrameError::Io(e),
    })?;
    Ok(buf)
}

/// Decodes a frame into a body, checking the version first so that a newer peer gets a
/// version error rather than a parse error.
pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, FrameError> {
    #[derive(Deserialize)]
    struct VersionOnly {
        version: u32,
    }
    let check = |version| match version {
        VERSION => Ok(()),
        other => Err(FrameError::Version(other)),
    };
    // One pass when the body decodes (a `-Lnc` answer is tens of megabytes); the version is
    // read alone only when it does not, so that a newer peer still gets a version error.
    match serde_json::from_slice::<Envelope<T>>(bytes) {
        Ok(env) => check(env.version).map(|()| env.body),
        Err(e) => {
            let v: VersionOnly =
                serde_json::from_slice(bytes).map_err(|e| FrameError::Malformed(e.to_string()))?;
            check(v.version)?;
            Err(FrameError::Malformed(e.to_string()))
        }
    }
}

/// A connection to `rvsd`.
pub struct Client {
    stream: UnixStream,
}

impl Client {
    /// Connects to the daemon's socket.
    pub fn connect(path: &Path) -> io::Result<Client> {
        Ok(Client {
            stream: UnixStream::connect(path)?,
        })
    }

    /// The socket path clients use: `$RVS_SOCKET`, else the default.
    pub fn socket_path() -> std::path::PathBuf {
        std::env::var_os(SOCKET_ENV)
            .filter(|v| !v.is_empty())
            .map_or_else(|| DEFAULT_SOCKET.into(), Into::into)
    }

    /// Sends a request and waits for its response.
    /// A listing sent in parts comes back whole, as one [`Response::Conns`].
    pub fn call(&mut self, req: &Request) -> Result<Response, FrameError> {
        let mut all = packed::PackedConns::default();
        match self.call_in_parts(req, &mut |p| all.append(p))? {
            Response::Conns(last) => {
                all.append(last);
                Ok(Response::Conns(all))
            }
            other => Ok(other),
        }
    }

    /// Like [`Client::call`], with the parts of a connection listing handed to `part` as they
    /// arrive (to be shown while the daemon reads on); the last part is in the answer, or an
    /// error if the daemon could not read on.
    pub fn call_in_parts(
        &mut self,
        req: &Request,
        part: &mut dyn FnMut(packed::PackedConns),
    ) -> Result<Response, FrameError> {
        write_message(&mut self.stream, req).map_err(FrameError::Io)?;
        let mut parted = false;
        loop {
            let bytes = read_frame(&mut self.stream, MAX_RESPONSE_BYTES)?;
            match decode(&bytes)? {
                Response::ConnsPart(p) => {
                    parted = true;
                    part(p);
                }
                resp @ (Response::Conns(_) | Response::Error(_)) => return Ok(resp),
                _ if parted => {
                    return Err(FrameError::Malformed(
                        "a connection listing ended without its last part".into(),
                    ));
                }
                resp => return Ok(resp),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_roundtrip() {
        let mut buf = Vec::new();
        write_message(&mut buf, &Request::Zero(None)).unwrap();
        let frame = read_frame(&mut buf.as_slice(), MAX_REQUEST_BYTES).unwrap();
        assert_eq!(decode::<Request>(&frame).unwrap(), Request::Zero(None));
    }

    #[test]
    fn a_listing_in_parts_comes_back_whole() {
        let view = |port| ConnView {
            protocol: 6,
            caddr: "10.0.0.10".parse().unwrap(),
            cport: port,
            vaddr: "10.0.0.240".parse().unwrap(),
            vport: 80,
            daddr: "10.0.0.241".parse().unwrap(),
            dport: 80,
            state: "ESTABLISHED".into(),
            expires: 899,
            pe_name: String::new(),
            pe_data: String::new(),
        };
        let part = |ports: std::ops::Range<u16>| ports.map(view).collect::<packed::PackedConns>();
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut client = Client { stream: a };
        for r in [
            Response::ConnsPart(part(1..4)),
            Response::ConnsPart(part(4..5)),
            Response::Conns(part(5..7)),
            Response::ConnsPart(part(1..2)),
            Response::Ok,
            Response::ConnsPart(part(1..2)),
            Response::Error(ErrorReply {
                errno: 5,
                message: "reading the connection table".into(),
            }),
        ] {
            write_message(&mut b, &r).unwrap();
        }
        let Response::Conns(all) = client.call(&Request::ListConns).unwrap() else {
            panic!("not a listing");
        };
        assert_eq!(all.to_views(), (1..7).map(view).collect::<Vec<_>>());
        assert!(matches!(
            client.call(&Request::ListConns),
            Err(FrameError::Malformed(_))
        ));
        // A listing the daemon could not read to its end closes with the error.
        assert!(matches!(
            client.call(&Request::ListConns),
            Ok(Response::Error(ErrorReply { errno: 5, .. }))
        ));
    }

    #[test]
    fn framing_errors() {
        let empty: &[u8] = &[];
        assert!(matches!(
            read_frame(&mut &*empty, 10),
            Err(FrameError::Closed)
        ));
        assert!(matches!(
            read_frame(&mut &[0u8, 0][..], 10),
            Err(FrameError::Truncated)
        ));
        assert!(matches!(
            read_frame(&mut &[0u8, 0, 0, 9, b'{'][..], 10),
            Err(FrameError::Truncated)
        ));
        assert!(matches!(
            read_frame(&mut &[0u8, 0, 1, 0][..], 10),
            Err(FrameError::TooLarge(256))
        ));
        assert!(matches!(
            decode::<Request>(b"{\"version\":2,\"body\":\"nope\"}"),
            Err(FrameError::Malformed(_))
        ));
        assert!(matches!(
            decode::<Request>(b"{\"version\":9,\"body\":\"info\"}"),
            Err(FrameError::Version(9))
        ));
    }
}
