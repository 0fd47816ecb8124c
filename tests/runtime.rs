//! The runtime drives the simulated network in real time; threads block on
//! it and are woken by what the driver thread does.

use std::time::Duration;

use synfin::api::{Node, Runtime};
use synfin::links::LinkModel;
use synfin::stack::Error;
use synfin::tcp::State;

fn pair() -> (Runtime, Node, Node) {
    let model = LinkModel {
        delay: Duration::from_millis(2),
        ..LinkModel::default()
    };
    let (rt, nodes) = Runtime::simulated(
        5,
        model,
        &["198.18.0.1".parse().unwrap(), "198.18.0.2".parse().unwrap()],
    );
    let [a, b]: [Node; 2] = nodes.try_into().unwrap();
    (rt, a, b)
}

#[test]
fn a_blocked_thread_is_woken_by_the_driver() {
    let (_rt, client, server) = pair();
    let addr = "198.18.0.2:7".parse().unwrap();
    let l = server.with(|s, _| s.listen(addr, 8)).unwrap();
    let srv = std::thread::spawn(move || {
        // Blocks until the handshake completes on the driver thread.
        let (h, _) = server
            .wait(Some(Duration::from_secs(10)), |s, _| match s.accept(l) {
                Err(Error::WouldBlock) => None,
                r => Some(r),
            })
            .expect("accepted in time")
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            let n = server
                .wait(Some(Duration::from_secs(10)), |s, now| {
                    match s.recv(now, h, &mut buf) {
                        Err(Error::WouldBlock) => None,
                        r => Some(r),
                    }
                })
                .expect("read in time")
                .unwrap();
            if n == 0 {
                break got;
            }
            got.extend_from_slice(&buf[..n]);
        }
    });
    let c = client.with(|s, now| s.connect(now, addr)).unwrap();
    client
        .wait(Some(Duration::from_secs(10)), |s, _| {
            (s.state(c) == Ok(State::Established)).then_some(())
        })
        .expect("connected in time");
    let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    let mut sent = 0;
    while sent < data.len() {
        sent += client
            .wait(Some(Duration::from_secs(10)), |s, now| {
                match s.send(now, c, &data[sent..]) {
                    Err(Error::WouldBlock) => None,
                    r => Some(r),
                }
            })
            .expect("sent in time")
            .unwrap();
    }
    client
        .with(|s, now| s.shutdown(now, c, synfin::stack::Shutdown::Write))
        .unwrap();
    let got = srv.join().unwrap();
    assert!(got == data, "{} of {} bytes", got.len(), data.len());
}
