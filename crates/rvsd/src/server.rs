// SPDX-License-Identifier: MIT OR Apache-2.0
//! The control socket.
//!
//! One thread per client connection; requests on a connection are answered in order. A
//! request that cannot be decoded gets an error reply and changes nothing; an oversized or
//! truncated one gets an error reply and the connection is closed (the stream cannot be
//! resynchronised). The socket is mode 0660, and changes are only accepted from uid 0, checked
//! with `SO_PEERCRED`. SIGTERM and SIGINT wait for any change in progress, remove the socket
//! and exit.

use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use rvs_ctl::{ErrorReply, FrameError, MAX_REQUEST_BYTES, Request, Response};
use rvs_model::Errno;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::log;
use crate::state::State;

/// The user id of the process at the other end of `s`.
fn peer_uid(s: &UnixStream) -> io::Result<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: u32::MAX,
        gid: u32::MAX,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes of the sizes passed; the fd is open.
    let rc = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast(),
            &raw mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(cred.uid)
}

fn bind(path: &Path) -> anyhow::Result<UnixListener> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            bail!("another rvsd is already serving {}", path.display());
        }
        fs::remove_file(path).with_context(|| format!("removing stale {}", path.display()))?;
    }
    let listener =
        UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o660))
        .with_context(|| format!("chmod {}", path.display()))?;
    Ok(listener)
}

/// Serves `state` on `path` until SIGTERM/SIGINT.
pub fn serve(path: &Path, state: Arc<State>) -> anyhow::Result<()> {
    let listener = bind(path)?;
    let mut signals = Signals::new([SIGTERM, SIGINT]).context("installing signal handlers")?;
    {
        let state = Arc::clone(&state);
        let path = path.to_path_buf();
        std::thread::spawn(move || {
            if let Some(sig) = signals.forever().next() {
                // omega scripts first (they take the health keeper's lock, then none).
                if let Some(h) = state.health() {
                    h.shutdown();
                }
                let _quiet = state.quiesce();
                crate::announce::withdraw();
                let _ = fs::remove_file(&path);
                let name = if sig == SIGTERM { "SIGTERM" } else { "SIGINT" };
                log(format_args!("{name}: configuration saved, exiting"));
                std::process::exit(0);
            }
        });
    }
    log(format_args!("serving {}", path.display()));
    crate::sd_notify(&format!("READY=1\nSTATUS=serving {}", path.display()));
    for conn in listener.incoming() {
        match conn {
            Ok(stream) => {
                let state = Arc::clone(&state);
                let path = path.to_path_buf();
                std::thread::spawn(move || serve_conn(stream, &state, &path));
            }
            Err(e) => log(format_args!("accept: {e}")),
        }
    }
    Ok(())
}

fn reply(stream: &mut UnixStream, resp: &Response) -> bool {
    rvs_ctl::write_message(stream, resp).is_ok()
}

fn protocol_error(errno: Errno, message: String) -> Response {
    Response::Error(ErrorReply {
        errno: errno.0,
        message,
    })
}

fn serve_conn(mut stream: UnixStream, state: &State, path: &Path) {
    let uid = match peer_uid(&stream) {
        Ok(uid) => uid,
        Err(e) => {
            log(format_args!("SO_PEERCRED: {e}"));
            return;
        }
    };
    loop {
        let frame = match rvs_ctl::read_frame(&mut stream, MAX_REQUEST_BYTES) {
            Ok(f) => f,
            Err(FrameError::Closed) => return,
            Err(e @ FrameError::TooLarge(_)) => {
                reply(&mut stream, &protocol_error(Errno::EMSGSIZE, e.to_string()));
                return;
            }
            Err(e @ FrameError::Truncated) => {
                reply(&mut stream, &protocol_error(Errno::EPROTO, e.to_string()));
                return;
            }
            Err(_) => return,
        };
        let sent = match rvs_ctl::decode::<Request>(&frame) {
            // Sent in parts as the table is read.
            Ok(Request::ListConns) => state.list_conns(&mut |r| reply(&mut stream, &r)),
            Ok(req) => reply(&mut stream, &state.handle(req, uid)),
            Err(e) => reply(&mut stream, &protocol_error(Errno::EPROTO, e.to_string())),
        };
        if state.is_down() {
            crate::announce::withdraw();
            let _ = fs::remove_file(path);
            log("rvs down: packet path detached, pins removed, exiting");
            std::process::exit(0);
        }
        if !sent {
            return;
        }
    }
}
