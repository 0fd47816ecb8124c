//! Many threads and many tasks on one stack at once, with no lost
//! wake-ups: every test here runs under a watchdog, and would hang (and so
//! fail) if a waiter could miss the change it waits for.

mod api_common;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::Arc;

use api_common::*;
use synfin::api::{TcpListener, TcpStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CLIENTS: usize = 24;

#[test]
fn many_threads_echo_through_one_stack() {
    with_watchdog(|| {
        let h = hosts(51);
        let l = TcpListener::bind(&h.server, server_addr(7)).unwrap();
        let server = std::thread::spawn(move || {
            let workers: Vec<_> = (0..CLIENTS)
                .map(|_| {
                    let (mut s, _) = l.accept().unwrap();
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 4096];
                        loop {
                            let n = s.read(&mut buf).unwrap();
                            if n == 0 {
                                break;
                            }
                            s.write_all(&buf[..n]).unwrap();
                        }
                        s.close().unwrap();
                    })
                })
                .collect();
            for w in workers {
                w.join().unwrap();
            }
        });
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let node = h.client.clone();
                std::thread::spawn(move || {
                    let data = pattern(40_000 + i * 997, i as u8);
                    // One stream, read by this thread and written by
                    // another: `Read` and `Write` are implemented for
                    // `&TcpStream`, as in std.
                    let c = Arc::new(TcpStream::connect(&node, server_addr(7)).unwrap());
                    let writer = {
                        let c = Arc::clone(&c);
                        let data = data.clone();
                        std::thread::spawn(move || {
                            (&*c).write_all(&data).unwrap();
                            c.shutdown(Shutdown::Write).unwrap();
                        })
                    };
                    let (got, end) = read_all(&*c);
                    end.unwrap();
                    writer.join().unwrap();
                    assert!(got == data, "client {i}: {} of {}", got.len(), data.len());
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        server.join().unwrap();
    });
}

#[test]
fn many_tasks_echo_through_one_stack() {
    with_watchdog(|| {
        let h = hosts(52);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        rt.block_on(async {
            let l = synfin::api::tokio::TcpListener::bind(&h.server, server_addr(8))
                .await
                .unwrap();
            let server = tokio::spawn(async move {
                let mut tasks = Vec::new();
                for _ in 0..64 {
                    let (mut s, _) = l.accept().await.unwrap();
                    tasks.push(tokio::spawn(async move {
                        let mut buf = [0u8; 4096];
                        loop {
                            let n = s.read(&mut buf).await.unwrap();
                            if n == 0 {
                                break;
                            }
                            s.write_all(&buf[..n]).await.unwrap();
                        }
                        s.close().await.unwrap();
                    }));
                }
                for t in tasks {
                    t.await.unwrap();
                }
            });
            let clients: Vec<_> = (0..64)
                .map(|i| {
                    let node = h.client.clone();
                    tokio::spawn(async move {
                        let data = pattern(20_000 + i * 331, i as u8);
                        let c = synfin::api::tokio::TcpStream::connect(&node, server_addr(8))
                            .await
                            .unwrap();
                        let (mut rd, mut wr) = tokio::io::split(c);
                        let out = data.clone();
                        let writer = tokio::spawn(async move {
                            wr.write_all(&out).await.unwrap();
                            wr.shutdown().await.unwrap();
                            wr
                        });
                        let mut got = Vec::new();
                        rd.read_to_end(&mut got).await.unwrap();
                        drop(writer.await.unwrap());
                        assert!(got == data, "task {i}: {} of {}", got.len(), data.len());
                    })
                })
                .collect();
            for c in clients {
                c.await.unwrap();
            }
            server.await.unwrap();
        });
    });
}

/// One byte back and forth, a thousand times, between two threads on two
/// stacks, each blocked in `read` with no timeout. Each reply is only
/// readable once the driver thread has carried it across the link (1 ms
/// of delay), so every round needs the driver to wake the waiting reader;
/// a single lost wake-up hangs the test and the watchdog fails it.
#[test]
fn ping_pong_needs_every_wake_up() {
    with_watchdog(|| {
        let h = hosts(53);
        let l = TcpListener::bind(&h.server, server_addr(9)).unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.set_nodelay(true).unwrap();
            let mut b = [0u8; 1];
            while s.read(&mut b).unwrap() == 1 {
                b[0] = b[0].wrapping_add(1);
                s.write_all(&b).unwrap();
            }
        });
        let mut c = TcpStream::connect(&h.client, server_addr(9)).unwrap();
        c.set_nodelay(true).unwrap();
        let mut b = [0u8; 1];
        for i in 0..1000u32 {
            c.write_all(&[i as u8]).unwrap();
            c.read_exact(&mut b).unwrap();
            assert_eq!(b[0], (i as u8).wrapping_add(1));
        }
        c.shutdown(Shutdown::Write).unwrap();
        server.join().unwrap();
    });
}

/// The same with async tasks on a multi-threaded runtime: each task parks
/// its waker and is woken by the driver thread.
#[test]
fn async_ping_pong_needs_every_wake_up() {
    with_watchdog(|| {
        let h = hosts(54);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        rt.block_on(async {
            let l = synfin::api::tokio::TcpListener::bind(&h.server, server_addr(10))
                .await
                .unwrap();
            let server = tokio::spawn(async move {
                let (mut s, _) = l.accept().await.unwrap();
                s.set_nodelay(true).unwrap();
                let mut b = [0u8; 1];
                while s.read(&mut b).await.unwrap() == 1 {
                    b[0] = b[0].wrapping_add(1);
                    s.write_all(&b).await.unwrap();
                }
            });
            let mut c = synfin::api::tokio::TcpStream::connect(&h.client, server_addr(10))
                .await
                .unwrap();
            c.set_nodelay(true).unwrap();
            let mut b = [0u8; 1];
            for i in 0..500u32 {
                c.write_all(&[i as u8]).await.unwrap();
                c.read_exact(&mut b).await.unwrap();
                assert_eq!(b[0], (i as u8).wrapping_add(1));
            }
            c.shutdown().await.unwrap();
            server.await.unwrap();
        });
    });
}
