//! The installed program end to end: `wscxr score --shard I/N` parts concatenate to the
//! unsharded CSV, and bad flags fail with a one-line error naming the flag.

mod common;

use common::{checkout, small_detector, wscxr};

#[test]
fn sharded_scores_concatenate_to_the_unsharded_csv() {
    let assets = checkout().join("assets/quickstart");
    let dir = tempfile::tempdir().unwrap();
    let (_, file) = small_detector(dir.path());
    let file = file.to_str().unwrap();
    let normal = assets.join("test/normal");
    let anomaly = assets.join("test/anomaly");
    let inputs = [normal.to_str().unwrap(), anomaly.to_str().unwrap()];

    let csv_of = |shard: &str| {
        let out = dir.path().join(format!("{}.csv", shard.replace('/', "of")));
        let out_str = out.to_str().unwrap().to_string();
        let mut args = vec![
            "score",
            "--quiet",
            "--detector",
            file,
            "--shard",
            shard,
            "--csv",
        ];
        args.push(&out_str);
        args.extend(inputs);
        let run = wscxr(&args);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        std::fs::read_to_string(out).unwrap()
    };
    let whole = csv_of("0/1");
    assert_eq!(
        whole.lines().count(),
        1 + 12,
        "a header and 12 images:\n{whole}"
    );
    assert!(
        whole.starts_with("path,score,normalized,abnormal\n"),
        "{whole}"
    );
    let parts: String = ["0/5", "1/5", "2/5", "3/5", "4/5"].map(csv_of).concat();
    assert_eq!(parts, whole);
}

#[test]
fn bad_flags_fail_with_one_line_naming_the_flag() {
    for (args, flag) in [
        (
            vec!["score", "--detector", "/nonexistent.wscxr", "x.png"],
            "--detector",
        ),
        (
            vec!["score", "--detector", "x", "--shard", "3/3", "x.png"],
            "--shard",
        ),
        (
            vec!["evaluate", "--data", "/nonexistent", "--val-fraction", "0"],
            "--val-fraction",
        ),
        (
            vec!["evaluate", "--data", "/nonexistent", "--size", "8"],
            "--size",
        ),
        (
            vec![
                "evaluate",
                "--data",
                "/nonexistent",
                "--eval-split",
                "train",
            ],
            "--eval-split",
        ),
        (
            vec![
                "fit",
                "--normal",
                "/nonexistent",
                "--out",
                "d",
                "--epochs",
                "0",
            ],
            "--epochs",
        ),
    ] {
        let run = wscxr(&args);
        assert!(!run.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
    }
}
