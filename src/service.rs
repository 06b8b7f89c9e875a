//! The systemd side of `gcwatch watch`: a state line (`READY=1`, `STOPPING=1`) in, one
//! datagram to `$NOTIFY_SOCKET` out.
//!
//! The protocol is a single `KEY=VALUE` text datagram per notice, sent to a Unix datagram
//! socket whose path is in `NOTIFY_SOCKET`; a leading `@` names a socket in the abstract
//! namespace. Without the variable (not started by systemd) every notice is a no-op, so the
//! daemon calls these unconditionally.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// The notices the daemon sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Every watch is in place (`ready` was printed).
    Ready,
    /// A stop signal arrived; the daemon is winding down.
    Stopping,
}

impl Notice {
    pub fn as_str(self) -> &'static str {
        match self {
            Notice::Ready => "READY=1",
            Notice::Stopping => "STOPPING=1",
        }
    }
}

/// Where notices go: the socket named by `NOTIFY_SOCKET`, if any.
#[derive(Debug, Clone)]
pub struct Notifier {
    target: Option<String>,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET`; an unset or empty value means "not under systemd".
    pub fn from_env() -> Notifier {
        let target = std::env::var("NOTIFY_SOCKET")
            .ok()
            .filter(|v| !v.is_empty());
        Notifier { target }
    }

    /// Sends one notice; `Ok` without doing anything when there is no socket.
    pub fn notify(&self, notice: Notice) -> io::Result<()> {
        let Some(target) = &self.target else {
            return Ok(());
        };
        let addr = socket_addr(target)?;
        let socket = UnixDatagram::unbound()?;
        socket.send_to_addr(notice.as_str().as_bytes(), &addr)?;
        Ok(())
    }
}

/// `@name` is an abstract socket, anything else a path.
fn socket_addr(target: &str) -> io::Result<SocketAddr> {
    match target.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name.as_bytes())
        }
        None => SocketAddr::from_pathname(target),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_reach_a_path_socket_and_an_abstract_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let listener = UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier {
            target: Some(path.display().to_string()),
        };
        notifier.notify(Notice::Ready).unwrap();
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("gcwatch-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&addr).unwrap();
        let notifier = Notifier {
            target: Some(format!("@{name}")),
        };
        notifier.notify(Notice::Stopping).unwrap();
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");
    }

    #[test]
    fn without_a_socket_nothing_is_sent() {
        let notifier = Notifier { target: None };
        assert!(notifier.notify(Notice::Ready).is_ok());
    }
}
