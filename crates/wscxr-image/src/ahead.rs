//! Reading ahead: the next group of images is decoded (in parallel, on a helper thread) while the
//! caller works on the current one, so that decoding hides behind the caller's own work.

use std::sync::mpsc;
use std::time::Instant;

use rayon::prelude::*;

/// Runs `work` on every item, `group` items at a time and in parallel on a helper thread, one
/// group ahead of `consume`, which receives each group's results in order together with the
/// seconds it waited for them (the work its own did not hide). The first error, of either, stops
/// both.
pub fn read_ahead<I, T, E>(
    items: &[I],
    group: usize,
    work: impl Fn(&I) -> Result<T, E> + Sync,
    mut consume: impl FnMut(Vec<T>, f64) -> Result<(), E>,
) -> Result<(), E>
where
    I: Sync,
    T: Send,
    E: Send,
{
    let (sender, receiver) = mpsc::sync_channel::<Result<Vec<T>, E>>(1);
    let work = &work;
    std::thread::scope(|scope| {
        scope.spawn(move || {
            for chunk in items.chunks(group.max(1)) {
                let done: Result<Vec<T>, E> = chunk.par_iter().map(work).collect();
                let failed = done.is_err();
                // A closed channel means the consumer stopped: nothing more is wanted.
                if sender.send(done).is_err() || failed {
                    break;
                }
            }
        });
        let mut clock = Instant::now();
        for done in receiver {
            let waited = clock.elapsed().as_secs_f64();
            consume(done?, waited)?;
            clock = Instant::now();
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_arrive_in_order_and_errors_stop_both_sides() {
        let items: Vec<u32> = (0..10).collect();
        let mut seen = Vec::new();
        read_ahead(
            &items,
            3,
            |&i| Ok::<_, String>(i * 2),
            |group, waited| {
                assert!(group.len() <= 3 && waited >= 0.0);
                seen.extend(group);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, (0..10).map(|i| i * 2).collect::<Vec<_>>());

        let failed = read_ahead(
            &items,
            3,
            |&i| {
                if i == 4 {
                    Err(format!("item {i}"))
                } else {
                    Ok(i)
                }
            },
            |_, _| Ok(()),
        );
        assert_eq!(failed, Err("item 4".to_string()));
        let mut groups = 0;
        let stopped = read_ahead(
            &items,
            3,
            |&i| Ok(i),
            |_, _| {
                groups += 1;
                Err("enough".to_string())
            },
        );
        assert_eq!((stopped, groups), (Err("enough".to_string()), 1));
    }
}
