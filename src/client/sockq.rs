//! Where a request without an answer sits, from the kernel's socket queues.
//!
//! A request that never got a response byte is in one of three places: still in our
//! socket's send queue (unsent, or sent and not yet acknowledged), in the server's socket
//! receive queue (delivered, never read by the server: e.g. a server that serves each
//! connection with a thread of its own and has none free), or read by the server and
//! dropped (both queues empty). Linux lists every TCP socket with its queues in
//! `/proc/net/tcp` and `/proc/net/tcp6`; for a server on this host both ends of the
//! connection are there. The parser is pure; [`lookup`] reads the files.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A socket's queues, in bytes: `tx` sent by the application and not yet acknowledged by
/// the peer, `rx` received and not yet read by the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Queues {
    pub tx: u64,
    pub rx: u64,
}

/// One address as the kernel prints it (`0100007F:1F90`; IPv6: 32 hex digits). Pure.
fn parse_addr(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    // Each 32-bit word is printed as the number it is in this host's byte order.
    let word = |hex: &str| u32::from_str_radix(hex, 16).ok().map(u32::to_ne_bytes);
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(ip)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(ip.get(i * 8..i * 8 + 8)?)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// The same endpoint, whether written as IPv4 or as IPv4-mapped IPv6.
fn same(a: SocketAddr, b: SocketAddr) -> bool {
    let canon = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    a.port() == b.port() && canon(a.ip()) == canon(b.ip())
}

/// The queues of the socket whose local end is `local` and remote end `remote`, in a
/// `/proc/net/tcp`-format table. Pure.
pub fn queues(table: &str, local: SocketAddr, remote: SocketAddr) -> Option<Queues> {
    table.lines().skip(1).find_map(|line| {
        let mut f = line.split_whitespace();
        let _slot = f.next()?;
        let l = parse_addr(f.next()?)?;
        let r = parse_addr(f.next()?)?;
        let _state = f.next()?;
        let (tx, rx) = f.next()?.split_once(':')?;
        (same(l, local) && same(r, remote)).then_some(Queues {
            tx: u64::from_str_radix(tx, 16).ok()?,
            rx: u64::from_str_radix(rx, 16).ok()?,
        })
    })
}

/// Look a socket up in this host's tables (Linux; elsewhere `None`).
pub fn lookup(local: SocketAddr, remote: SocketAddr) -> Option<Queues> {
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().find_map(|path| {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|t| queues(&t, local, remote))
    })
}

/// Where a request written on the connection `ours → server` and never answered sits,
/// in words, from our socket's queues and the server's (when the server's end is on this
/// host). Pure.
pub fn placement(ours: Option<Queues>, servers: Option<Queues>) -> String {
    match (ours, servers) {
        (Some(o), _) if o.tx > 0 => format!(
            "{} bytes of it are still in our socket's send queue (unsent or not acknowledged by the server's host)",
            o.tx
        ),
        (_, Some(s)) if s.rx > 0 => format!(
            "the server's socket holds {} unread bytes: delivered, never read by the server (a server with a thread per connection and none free, e.g. llama-server's --threads-http, leaves it there)",
            s.rx
        ),
        (_, Some(_)) => {
            "both socket queues are empty: the server read the request and never answered it"
                .to_string()
        }
        (Some(_), None) => {
            "our send queue is empty: delivered to the server's host (the server is not on this host, so whether it read it is unknown)"
                .to_string()
        }
        (None, None) => "the connection is no longer in the kernel's socket tables".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Two sockets of one connection on the loopback (client port 53412 = 0xD0A4, server
    // 8080 = 0x1F90), as /proc/net/tcp prints them on a little-endian host, and a listener.
    const TABLE: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 101 1 0000000000000000 100 0 0 10 0
   1: 0100007F:D0A4 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 102 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:1F90 0100007F:D0A4 01 00000000:0000032C 00:00000000 00000000     0        0 103 1 0000000000000000 20 4 30 10 -1
";

    #[test]
    #[cfg(target_endian = "little")]
    fn finds_both_ends_of_a_loopback_connection() {
        let client: SocketAddr = "127.0.0.1:53412".parse().unwrap();
        let server: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(queues(TABLE, client, server), Some(Queues { tx: 0, rx: 0 }));
        assert_eq!(
            queues(TABLE, server, client),
            Some(Queues { tx: 0, rx: 812 })
        );
        let other: SocketAddr = "127.0.0.1:53413".parse().unwrap();
        assert_eq!(queues(TABLE, other, server), None);
        // An IPv4-mapped IPv6 address names the same endpoint.
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:8080".parse().unwrap();
        assert_eq!(
            queues(TABLE, mapped, client),
            Some(Queues { tx: 0, rx: 812 })
        );
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn reads_ipv6_addresses() {
        // ::1 port 8080: the last word holds 0x01000000 read little-endian.
        let a = parse_addr("00000000000000000000000001000000:1F90").unwrap();
        assert_eq!(a, "[::1]:8080".parse::<SocketAddr>().unwrap());
        assert_eq!(parse_addr("0100007F"), None);
        assert_eq!(parse_addr("0100:1F90"), None);
    }

    #[test]
    fn placement_names_where_the_bytes_are() {
        let q = |tx, rx| Some(Queues { tx, rx });
        assert!(placement(q(300, 0), q(0, 0)).starts_with("300 bytes of it are still in our"));
        assert!(placement(q(0, 0), q(0, 812)).contains("holds 812 unread bytes"));
        assert!(placement(q(0, 0), q(0, 0)).contains("read the request and never answered"));
        assert!(placement(q(0, 0), None).contains("not on this host"));
        assert!(placement(None, None).contains("no longer"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_real_unread_request_is_found_in_the_servers_queue() {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server, _) = listener.accept().unwrap();
        client.write_all(&[b'x'; 100]).unwrap();
        let (local, peer) = (client.local_addr().unwrap(), client.peer_addr().unwrap());
        // The loopback delivers at once; give the kernel a moment on a busy machine.
        let mut found = None;
        for _ in 0..50 {
            found = lookup(peer, local);
            if found.is_some_and(|q| q.rx == 100) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(found, Some(Queues { tx: 0, rx: 100 }));
        assert_eq!(lookup(local, peer).map(|q| q.tx), Some(0));
    }
}
