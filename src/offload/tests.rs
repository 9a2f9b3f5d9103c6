//! The pool's lanes, room, priority and seats.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::*;

#[tokio::test]
async fn work_runs_on_the_pool_s_named_threads_outside_the_runtime() {
    let pool = Pool::new("tessera-test", 1, 0).unwrap();
    let (name, in_runtime) = pool
        .run(|| {
            let name = std::thread::current().name().map(str::to_owned);
            (name, tokio::runtime::Handle::try_current().is_ok())
        })
        .await
        .unwrap();
    assert_eq!(name.as_deref(), Some("tessera-test-0"));
    assert!(!in_runtime, "the job ran on an async worker");
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn work_runs_below_the_request_path_s_priority() {
    let pool = Pool::new("tessera-test", 1, 0).unwrap();
    // SAFETY: getpriority reads the calling thread's nice value.
    #[allow(unsafe_code)]
    let ours = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    // SAFETY: as above, on the pool's thread.
    #[allow(unsafe_code)]
    let theirs = pool
        .run(|| unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) })
        .await
        .unwrap();
    assert_eq!(theirs, (ours + NICE).min(19));
}

#[tokio::test]
async fn a_full_queue_answers_busy_at_once() {
    let pool = Pool::new("tessera-test", 1, 0).unwrap();
    let occupied = Occupied::start(&pool).await;
    assert!(matches!(pool.run(|| ()).await, Err(OffloadError::Busy)));
    occupied.release().await;
    pool.run(|| ()).await.expect("room again");
}

#[tokio::test]
async fn a_seat_holds_its_room_until_it_runs() {
    let pool = Pool::new("tessera-test", 1, 0).unwrap();
    let seat = pool.reserve().expect("room");
    // The one room is taken: others are refused, the seat's job is not.
    assert!(matches!(pool.run(|| ()).await, Err(OffloadError::Busy)));
    assert!(pool.reserve().is_err());
    assert_eq!(seat.run(|| 7).await.unwrap(), 7);
    pool.run(|| ()).await.expect("room again");
}

#[tokio::test]
async fn the_first_lane_is_served_before_the_second() {
    let pool = Pool::new("tessera-test", 1, 4).unwrap();
    let occupied = Occupied::start(&pool).await;
    let order = Arc::new(Mutex::new(Vec::new()));
    let (second, first) = (order.clone(), order.clone());
    let waiting_second = {
        let pool = pool.clone();
        tokio::spawn(async move {
            pool.run_in(Lane::Second, move || second.lock().unwrap().push("second"))
                .await
        })
    };
    // Queued after the second-lane job, served before it.
    pool.until_waiting((0, 1)).await;
    let waiting_first = {
        let pool = pool.clone();
        tokio::spawn(async move {
            pool.run_in(Lane::First, move || first.lock().unwrap().push("first"))
                .await
        })
    };
    pool.until_waiting((1, 1)).await;
    occupied.release().await;
    waiting_first.await.unwrap().unwrap();
    waiting_second.await.unwrap().unwrap();
    assert_eq!(*order.lock().unwrap(), vec!["first", "second"]);
}

#[tokio::test]
async fn the_second_lane_takes_at_most_half_the_room() {
    // Room for 4: one running, three waiting; the second lane may hold 2.
    let pool = Pool::new("tessera-test", 1, 3).unwrap();
    let occupied = Occupied::start(&pool).await;
    let held: Vec<_> = (0..2)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run_in(Lane::Second, || ()).await })
        })
        .collect();
    pool.until_waiting((0, 2)).await;
    assert!(matches!(
        pool.run_in(Lane::Second, || ()).await,
        Err(OffloadError::Busy)
    ));
    // The first lane still finds room.
    let first = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.run(|| ()).await })
    };
    pool.until_waiting((1, 2)).await;
    occupied.release().await;
    first.await.unwrap().unwrap();
    for job in held {
        job.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn a_job_whose_caller_left_is_skipped() {
    let pool = Pool::new("tessera-test", 1, 1).unwrap();
    let occupied = Occupied::start(&pool).await;
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    // Queued behind the first job, then abandoned.
    let abandoned = tokio::time::timeout(
        Duration::from_millis(20),
        pool.run(move || flag.store(true, Ordering::SeqCst)),
    )
    .await;
    assert!(abandoned.is_err(), "it waited behind the first job");
    occupied.release().await;
    // A job queued after the abandoned one runs, so the abandoned one was passed.
    pool.run(|| ()).await.unwrap();
    assert!(!ran.load(Ordering::SeqCst), "an abandoned job ran");
}

#[tokio::test]
async fn an_answer_is_held_while_the_next_waiting_job_runs() {
    let pool = Pool::new("tessera-test", 1, 4).unwrap();
    let occupied = Occupied::start(&pool).await;
    let next_done = Arc::new(AtomicBool::new(false));
    let first = tokio::spawn({
        let pool = pool.clone();
        async move { pool.run(|| ()).await }
    });
    let second = tokio::spawn({
        let (pool, done) = (pool.clone(), next_done.clone());
        async move {
            pool.run(move || {
                std::thread::sleep(Duration::from_millis(50));
                done.store(true, Ordering::SeqCst);
            })
            .await
        }
    });
    pool.until_waiting((2, 0)).await;
    occupied.release().await;
    first.await.unwrap().unwrap();
    assert!(
        next_done.load(Ordering::SeqCst),
        "the first answer came back before the job queued behind it ran"
    );
    second.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_job_longer_than_the_hold_is_answered_as_soon_as_it_ends() {
    let pool = Pool::new("tessera-test", 1, 4).unwrap();
    let occupied = Occupied::start(&pool).await;
    let long = tokio::spawn({
        let pool = pool.clone();
        async move { pool.run(|| std::thread::sleep(HOLD * 5)).await }
    });
    let (release, hold) = std::sync::mpsc::channel::<()>();
    let blocked = tokio::spawn({
        let pool = pool.clone();
        async move { pool.run(move || hold.recv()).await }
    });
    pool.until_waiting((2, 0)).await;
    occupied.release().await;
    tokio::time::timeout(Duration::from_secs(10), long)
        .await
        .expect("the long job's answer was held behind the blocked one")
        .unwrap()
        .unwrap();
    release.send(()).unwrap();
    blocked.await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn a_panicking_job_fails_alone_and_the_thread_carries_on() {
    let pool = Pool::new("tessera-test", 1, 4).unwrap();
    let occupied = Occupied::start(&pool).await;
    // Queued behind the held thread: an answer that is held while the panicking job
    // runs, then the panicking job, then one after it.
    let before = tokio::spawn({
        let pool = pool.clone();
        async move { pool.run(|| 1).await }
    });
    pool.until_waiting((1, 0)).await;
    let panics = tokio::spawn({
        let pool = pool.clone();
        async move { pool.run(|| -> i32 { panic!("a job's own failure") }).await }
    });
    pool.until_waiting((2, 0)).await;
    occupied.release().await;
    let wait = |job: tokio::task::JoinHandle<Result<i32, OffloadError>>| async move {
        tokio::time::timeout(Duration::from_secs(10), job)
            .await
            .expect("answered")
            .expect("joined")
    };
    assert_eq!(
        wait(before).await.expect("its answer survived the panic"),
        1
    );
    assert!(matches!(wait(panics).await, Err(OffloadError::Lost)));
    let after = tokio::spawn({
        let pool = pool.clone();
        async move { pool.run(|| 2).await }
    });
    assert_eq!(wait(after).await.expect("the thread still runs jobs"), 2);
}
