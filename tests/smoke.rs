mod common;
use common::*;
use std::time::Duration;
use synfin::links::LinkModel;
use synfin::stack::Shutdown;
use synfin::tcp::State;

#[test]
fn lifecycle_smoke() {
    let mut p = Pair::new(1, LinkModel::default());
    let (c, s, _l) = p.establish();
    let data = pattern(100_000, 3);
    let mut sent = 0;
    let mut got = Vec::new();
    p.run_until(Duration::from_secs(60), |p| {
        let now = p.now();
        if sent < data.len() {
            if let Ok(n) = p.c().send(now, c, &data[sent..]) {
                sent += n;
            }
            if sent == data.len() {
                p.c().shutdown(now, c, Shutdown::Write).unwrap();
            }
        }
        p.drain(true, s, &mut got).unwrap()
    });
    assert_eq!(got.len(), data.len());
    assert!(got == data);
    let now = p.now();
    p.s().close(now, s).unwrap();
    p.run_until(Duration::from_secs(10), |p| {
        p.c().state(c) == Ok(State::TimeWait)
    });
    p.run_for(Duration::from_secs(61));
    assert_eq!(p.c().time_wait_count(), 0);
}
