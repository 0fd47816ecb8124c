//! Repeats of one figure on several stacks, the stacks taking turns.
//!
//! This machine is shared: another tenant's load comes and goes over
//! seconds. Measuring every repeat of one stack and then every repeat of the
//! next lets such a swing land on one stack only, and the ratio of the
//! medians then says more about the neighbour than about the stacks. So each
//! round runs every stack once, back to back, and the rounds repeat: a swing
//! lands on all stacks of a round alike. Each stack's figure is still the
//! median of its own samples.
//!
//! A turn can also slow the one after it: the in-memory stack measured
//! right after the kernel's lifecycle turn ran 3.3 % slower than with a
//! pause between them (stop 30, docs/PERFORMANCE.md). Such a turn is given
//! a pause after it ([`Turn::settle_after`]), outside any measurement.

use std::time::Duration;

/// One stack's part of a figure: how to measure it once, and what has been
/// measured.
pub struct Turn<'a> {
    what: String,
    measure: Box<dyn FnMut() -> Result<f64, String> + 'a>,
    samples: Vec<f64>,
    error: Option<String>,
    settle: Duration,
}

impl<'a> Turn<'a> {
    /// A stack's measurement; `what` names it in progress lines and errors.
    pub fn new(what: impl Into<String>, measure: impl FnMut() -> Result<f64, String> + 'a) -> Self {
        Turn {
            what: what.into(),
            measure: Box::new(measure),
            samples: Vec::new(),
            error: None,
            settle: Duration::ZERO,
        }
    }

    /// Pauses for `d` after each of this turn's measurements, so that what
    /// it leaves the machine doing is done before the next turn starts.
    pub fn settle_after(mut self, d: Duration) -> Self {
        self.settle = d;
        self
    }
}

/// Runs `repeat` rounds; in each, every turn present measures once (a turn
/// that failed is not run again). Returns, per turn in the order given, the
/// median of its samples, or its first error (`None` where no turn was
/// given). One turn alone is a plain repeat.
pub fn interleaved<const N: usize>(
    repeat: u32,
    mut turns: [Option<Turn<'_>>; N],
) -> [Option<Result<f64, String>>; N] {
    for round in 1..=repeat {
        for t in turns.iter_mut().flatten() {
            if t.error.is_some() {
                continue;
            }
            match (t.measure)() {
                Ok(x) => {
                    eprintln!("bench: {} [{round}/{repeat}] {x:.3}", t.what);
                    t.samples.push(x);
                }
                Err(e) => t.error = Some(format!("{}: {e}", t.what)),
            }
            if !t.settle.is_zero() {
                std::thread::sleep(t.settle);
            }
        }
    }
    turns.map(|t| {
        t.map(|t| match t.error {
            Some(e) => Err(e),
            None => Ok(super::median(t.samples).unwrap_or(f64::NAN)),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn rounds_alternate_and_report_medians() {
        let order = RefCell::new(Vec::new());
        let mut a = [3.0, 1.0, 2.0].into_iter();
        let mut b = [10.0, 30.0, 20.0].into_iter();
        let r = interleaved(
            3,
            [
                Some(Turn::new("a", || {
                    order.borrow_mut().push('a');
                    Ok(a.next().unwrap())
                })),
                None,
                Some(Turn::new("b", || {
                    order.borrow_mut().push('b');
                    Ok(b.next().unwrap())
                })),
            ],
        );
        assert_eq!(order.into_inner(), ['a', 'b', 'a', 'b', 'a', 'b']);
        assert_eq!(r[0], Some(Ok(2.0)));
        assert_eq!(r[1], None);
        assert_eq!(r[2], Some(Ok(20.0)));
    }

    #[test]
    fn a_settling_turn_pauses_before_the_next_turn_starts() {
        use std::time::{Duration, Instant};
        let ended = RefCell::new(None::<Instant>);
        let gaps = RefCell::new(Vec::new());
        let r = interleaved(
            2,
            [
                Some(
                    Turn::new("settles", || {
                        *ended.borrow_mut() = Some(Instant::now());
                        Ok(1.0)
                    })
                    .settle_after(Duration::from_millis(20)),
                ),
                Some(Turn::new("next", || {
                    let e = ended.borrow().expect("the settling turn ran first");
                    gaps.borrow_mut().push(e.elapsed());
                    Ok(2.0)
                })),
            ],
        );
        assert_eq!(r, [Some(Ok(1.0)), Some(Ok(2.0))]);
        let gaps = gaps.into_inner();
        assert_eq!(gaps.len(), 2);
        // A sleep lasts at least what it is asked for.
        assert!(
            gaps.iter().all(|g| *g >= Duration::from_millis(20)),
            "{gaps:?}"
        );
    }

    #[test]
    fn a_failed_turn_stops_and_keeps_its_first_error() {
        let mut calls = 0;
        let r = interleaved(
            4,
            [
                Some(Turn::new("bad", || {
                    calls += 1;
                    Err(format!("failure {calls}"))
                })),
                Some(Turn::new("good", || Ok(5.0))),
            ],
        );
        assert_eq!(r[0], Some(Err("bad: failure 1".to_string())));
        assert_eq!(r[1], Some(Ok(5.0)));
        assert_eq!(calls, 1, "a failed turn is not measured again");
    }
}
