//! The blocking socket API over a real link: two runtimes, each driving a
//! stack on a UDP link (IP in UDP on loopback), exchange data through
//! `TcpListener` / `TcpStream` — the device wakes its runtime on arrival.

use std::io::{Read, Write};
use std::net::{Shutdown, UdpSocket};
use std::time::Duration;

use synfin::api::{Runtime, TcpListener, TcpStream};
use synfin::links::host::DeviceHost;
use synfin::links::runtime_device::RuntimeDevice;
use synfin::links::udp::UdpLink;
use synfin::links::HostId;
use synfin::stack::{Stack, StackConfig};

fn side(local: u16, peer: u16, ip: &str, seed: u64) -> Runtime {
    let link = UdpLink::open(
        format!("127.0.0.1:{local}").parse().unwrap(),
        format!("127.0.0.1:{peer}").parse().unwrap(),
        1500,
    )
    .unwrap();
    let mut stack = Stack::new(StackConfig::default(), seed);
    stack.add_address(ip.parse().unwrap());
    Runtime::new(RuntimeDevice::new(DeviceHost::new(stack, link)))
}

#[test]
fn blocking_echo_over_a_udp_link() {
    let (a, b) = (
        UdpSocket::bind("127.0.0.1:0").unwrap(),
        UdpSocket::bind("127.0.0.1:0").unwrap(),
    );
    let (pa, pb) = (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    );
    drop((a, b));
    let server_rt = side(pb, pa, "198.18.1.2", 1);
    let client_rt = side(pa, pb, "198.18.1.1", 2);
    let server_node = server_rt.node(HostId(0)).unwrap();
    let client_node = client_rt.node(HostId(0)).unwrap();

    let listener = TcpListener::bind(&server_node, "198.18.1.2:7").unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        s.write_all(&got).unwrap();
        got.len()
    });
    let mut c = TcpStream::connect(&client_node, "198.18.1.2:7").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let data: Vec<u8> = (0..500_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    c.write_all(&data).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    c.read_to_end(&mut back).unwrap();
    assert_eq!(server.join().unwrap(), data.len());
    assert!(back == data, "echo differs");
}
