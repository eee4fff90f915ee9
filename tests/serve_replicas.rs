//! `deploy/run-local.sh`: two `granite serve` replicas behind nginx (deploy/nginx.conf) on
//! loopback. Every turn of one conversation (one X-Session-Id) lands on one replica, whose
//! prompt cache then serves the earlier turns' tokens.
use std::process::Command;

#[test]
fn one_conversation_stays_on_one_replica_behind_nginx() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("timeout")
        .args(["300", "bash", "deploy/run-local.sh"])
        .current_dir(root)
        .env("GRANITE", env!("CARGO_BIN_EXE_granite"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "run-local.sh failed:\n{text}\n{err}");
    let turns: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("alice turn"))
        .collect();
    assert_eq!(turns.len(), 3, "{text}");
    let replica = |line: &str| {
        line.split("replica ")
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .to_string()
    };
    let first = replica(turns[0]);
    assert!(first.starts_with("127.0.0.1:808"), "{text}");
    for t in &turns {
        assert_eq!(replica(t), first, "alice moved between replicas:\n{text}");
    }
    let cached = |line: &str| -> u64 { line.rsplit('=').next().unwrap().trim().parse().unwrap() };
    assert_eq!(cached(turns[0]), 0, "{text}");
    assert!(
        cached(turns[1]) > 0 && cached(turns[2]) > cached(turns[1]),
        "{text}"
    );
    let served: u64 = text
        .lines()
        .filter(|l| l.starts_with("replica 808"))
        .map(|l| {
            l.split("requests_total=")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert_eq!(served, 7, "every request reached a replica once:\n{text}");
}
