//! Replays every committed fuzz input (fuzz/corpus/<target>/ and
//! fuzz/regressions/<target>/) through the same `nutcracker::testing::check_*`
//! as the fuzz targets, so stable `cargo test` enforces the fuzz invariants
//! even where no fuzzer runs (twemproxy: no counterpart).
#![allow(clippy::unwrap_used, clippy::panic)] // test code: failing loudly is the point

use std::path::{Path, PathBuf};

/// The check behind each fuzz target.
fn check_for(target: &str) -> Option<fn(&[u8])> {
    use nutcracker::testing::*;
    Some(match target {
        "redis_req" => check_redis_req,
        "redis_rsp" => check_redis_rsp,
        "memcache_req" => check_memcache_req,
        "memcache_rsp" => check_memcache_rsp,
        "conf" => check_conf,
        "split_invariance" => check_split,
        "fragment_coalesce" => check_fragment,
        "sentinel" => check_sentinel,
        _ => return None,
    })
}

/// Every file under `<dir>/<target>/`, as (target, path).
fn inputs(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let Ok(targets) = std::fs::read_dir(dir) else {
        return out;
    };
    for t in targets.flatten() {
        let name = t.file_name().to_string_lossy().into_owned();
        for f in std::fs::read_dir(t.path()).into_iter().flatten().flatten() {
            if f.path().is_file() {
                out.push((name.clone(), f.path()));
            }
        }
    }
    out.sort();
    out
}

fn replay(sub: &str) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(sub);
    let all = inputs(&dir);
    for (target, path) in &all {
        let check = check_for(target).unwrap_or_else(|| panic!("{target}: no such fuzz target"));
        let data = std::fs::read(path).unwrap();
        let r = std::panic::catch_unwind(|| check(&data));
        assert!(r.is_ok(), "{} fails its invariants", path.display());
    }
    all.len()
}

#[test]
fn corpus_inputs_hold_the_invariants() {
    let n = replay("corpus");
    // every target has committed seeds
    for t in [
        "redis_req",
        "redis_rsp",
        "memcache_req",
        "memcache_rsp",
        "conf",
        "split_invariance",
        "fragment_coalesce",
        "sentinel",
    ] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus")
            .join(t);
        let seeds = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
        assert!(seeds >= 10, "{t}: only {seeds} seeds");
    }
    assert!(n >= 70, "only {n} corpus files");
}

#[test]
fn regressions_stay_fixed() {
    replay("regressions");
}
