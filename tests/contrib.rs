//! What `contrib/` ships for sharded surveys, run for real against the survey tests' site:
//! the Kubernetes Indexed Job's entrypoint (`contrib/kubernetes/survey-job.yaml`), run once per
//! completion index with the environment Kubernetes gives the pod, and the DuckDB query
//! (`contrib/duckdb/summary.sql`) over the shard files it leaves, against the summary of a
//! single run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use danekit::survey::Summary;
use danekit::verify::VerifyDocument;
use serde::Deserialize as _;
use serde_json::Value;
use support::interop::require_python_module;
use support::survey_site::{EXPECTED, Site, all_domains, list, site, survey};

const MANIFEST: &str = include_str!("../contrib/kubernetes/survey-job.yaml");
const QUERY: &str = "contrib/duckdb/summary.sql";
const BIN: &str = env!("CARGO_BIN_EXE_danekit");

/// The documents of the manifest.
fn manifest() -> Vec<serde_yaml::Value> {
    serde_yaml::Deserializer::from_str(MANIFEST)
        .map(|d| serde_yaml::Value::deserialize(d).unwrap())
        .collect()
}

fn get<'a>(v: &'a serde_yaml::Value, path: &str) -> &'a serde_yaml::Value {
    path.split('.').fold(v, |v, k| match k.parse::<usize>() {
        Ok(i) => &v[i],
        Err(_) => &v[k],
    })
}

fn text(v: &serde_yaml::Value, path: &str) -> String {
    get(v, path)
        .as_str()
        .unwrap_or_else(|| panic!("{path} is not a string"))
        .to_owned()
}

fn number(v: &serde_yaml::Value, path: &str) -> u64 {
    get(v, path)
        .as_u64()
        .unwrap_or_else(|| panic!("{path} is not a number"))
}

/// The Job's container, what it needs from the pod, and the shard count.
struct Container {
    script: String,
    /// Plain `env` values, by name.
    env: BTreeMap<String, String>,
    /// Mount paths by volume name.
    mounts: BTreeMap<String, String>,
    shards: u32,
}

fn job_container() -> Container {
    let docs = manifest();
    let job = docs
        .iter()
        .find(|d| d["kind"] == "Job")
        .expect("a Job in the manifest");
    assert_eq!(text(job, "apiVersion"), "batch/v1");
    assert_eq!(text(job, "spec.completionMode"), "Indexed");
    let completions = number(job, "spec.completions");
    let parallelism = number(job, "spec.parallelism");
    assert!((1..=completions).contains(&parallelism));
    let pod = get(job, "spec.template.spec");
    assert_eq!(text(pod, "restartPolicy"), "Never");
    let containers = pod["containers"].as_sequence().unwrap();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let command: Vec<&str> = c["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(command[..2], ["/bin/sh", "-c"]);
    assert!(c["args"].is_null());
    let mut env = BTreeMap::new();
    let mut index_from = None;
    for e in c["env"].as_sequence().unwrap() {
        let name = text(e, "name");
        if let Some(v) = e["value"].as_str() {
            env.insert(name, v.to_owned());
        } else if name == "JOB_COMPLETION_INDEX" {
            index_from = Some(text(e, "valueFrom.fieldRef.fieldPath"));
        }
    }
    assert_eq!(
        index_from.as_deref(),
        Some("metadata.annotations['batch.kubernetes.io/job-completion-index']")
    );
    let shards: u32 = env["SHARDS"].parse().unwrap();
    assert_eq!(
        u64::from(shards),
        completions,
        "SHARDS must equal completions"
    );
    // Every mount is a volume of the pod; the output volume is shared by the pods (a replaced
    // pod resumes the file of its index) and outlives them.
    let volumes: BTreeMap<String, &serde_yaml::Value> = pod["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| (text(v, "name"), v))
        .collect();
    let mut mounts = BTreeMap::new();
    for m in c["volumeMounts"].as_sequence().unwrap() {
        let name = text(m, "name");
        assert!(volumes.contains_key(&name), "volume {name}");
        mounts.insert(name, text(m, "mountPath"));
    }
    let claim = text(volumes["out"], "persistentVolumeClaim.claimName");
    let pvc = docs
        .iter()
        .find(|d| d["kind"] == "PersistentVolumeClaim")
        .expect("the output claim");
    assert_eq!(text(pvc, "metadata.name"), claim);
    assert_eq!(text(pvc, "spec.accessModes.0"), "ReadWriteMany");
    Container {
        script: command[2].to_owned(),
        env,
        mounts,
        shards,
    }
}

/// A `danekit` on `PATH` that is the binary under test pointed at the test site (the pods reach
/// real resolvers and MX hosts; these reach the site's).
fn shim(site: &Site) -> PathBuf {
    let dir = site.dir.join("bin");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("danekit");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nexec {BIN} \"$@\" --resolver {} --trust-anchor {} --port {} \
             --starttls smtp --timeout 2s\n",
            site.dns.addr,
            site.anchor.display(),
            site.servers.port
        ),
    )
    .unwrap();
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&path, perms).unwrap();
    dir
}

/// Runs the Job's entrypoint once per completion index, as the pods of the Job would (the
/// volumes are directories of the test), and returns the output directory.
fn run_the_job(site: &Site) -> (PathBuf, u32) {
    let c = job_container();
    let data = site.dir.join("data");
    let out = site.dir.join("out");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let listed = list(site, &all_domains());
    std::fs::copy(&listed, data.join("domains.txt")).unwrap();
    let mut script = c.script.clone();
    for (volume, dir) in [("domains", &data), ("out", &out)] {
        let mount = format!("{}/", c.mounts[volume].trim_end_matches('/'));
        assert!(script.contains(&mount), "{mount} in {script}");
        script = script.replace(&mount, &format!("{}/", dir.display()));
    }
    let path = format!(
        "{}:{}",
        shim(site).display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for k in 0..c.shards {
        let run = Command::new("/bin/sh")
            .arg("-c")
            .arg(&script)
            .envs(&c.env)
            .env("JOB_COMPLETION_INDEX", k.to_string())
            .env("PATH", &path)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        // Some domains fail (danekit exits 1): a finished survey all the same.
        assert!(
            run.status.success(),
            "index {k}: {}\n{}",
            run.status,
            String::from_utf8_lossy(&run.stderr)
        );
        assert!(run.stdout.is_empty());
    }
    (out, c.shards)
}

fn shard_docs(path: &Path) -> Vec<VerifyDocument> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn single_run(site: &Site) -> Summary {
    let file = list(site, &all_domains());
    let r = survey(
        site,
        &[file.to_str().unwrap(), "--summary-only", "-o", "json"],
        "",
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap()
}

#[test]
fn the_kubernetes_job_surveys_each_domain_once_in_its_shards() {
    let site = site();
    let (out, shards) = run_the_job(&site);
    let mut seen = BTreeSet::new();
    let mut merged = Summary::default();
    for k in 0..shards {
        let mut summary = Summary::default();
        for doc in shard_docs(&out.join(format!("shard-{k}.jsonl"))) {
            assert!(seen.insert(doc.domain.clone()), "{} twice", doc.domain);
            summary.add(&doc);
        }
        merged.merge(&summary);
    }
    let all: BTreeSet<String> = EXPECTED.iter().map(|(d, _)| d.to_string()).collect();
    assert_eq!(seen, all);
    assert_eq!(merged, single_run(&site));

    // A pod replaced after it finished (same index) finds every domain of its shard done.
    let before = site.servers.accepted();
    let (out_again, _) = run_the_job(&site);
    assert_eq!(out_again, out);
    assert_eq!(site.servers.accepted(), before);
    let again: usize = (0..shards)
        .map(|k| shard_docs(&out.join(format!("shard-{k}.jsonl"))).len())
        .sum();
    assert_eq!(again, EXPECTED.len());
}

/// A row of the query: section, key, count and percent.
type Row = (String, Option<String>, Option<u64>, Option<f64>);

/// Counts by (section, key).
type Rows = BTreeMap<(String, Option<String>), Option<u64>>;

/// The rows of the DuckDB query over `dir/shard-*.jsonl`.
fn duckdb_rows(python: &str, dir: &Path) -> Rows {
    let query = Path::new(env!("CARGO_MANIFEST_DIR")).join(QUERY);
    let program = "import duckdb, json, sys\n\
                   con = duckdb.connect()\n\
                   rows = con.execute(open(sys.argv[1]).read()).fetchall()\n\
                   print(json.dumps(rows))\n";
    let run = Command::new(python)
        .args(["-c", program])
        .arg(&query)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let rows: Vec<Row> = serde_json::from_slice(&run.stdout).unwrap();
    let mut out = BTreeMap::new();
    for (section, key, count, _) in rows {
        assert!(
            out.insert((section.clone(), key.clone()), count).is_none(),
            "{section} {key:?} twice"
        );
    }
    out
}

#[test]
fn the_duckdb_query_over_the_shards_gives_the_single_run_summary() {
    let Some(python) = require_python_module("duckdb", "pip install duckdb, see .ci/run") else {
        return;
    };
    let site = site();
    let (out, _) = run_the_job(&site);
    let rows = duckdb_rows(&python, &out);
    let whole = serde_json::to_value(single_run(&site)).unwrap();
    let mut expected = Rows::new();
    for (field, value) in whole.as_object().unwrap() {
        match value {
            Value::Number(n) if field != "schema_version" => {
                expected.insert((field.clone(), None), n.as_u64());
            }
            Value::String(s) => {
                expected.insert((field.clone(), Some(s.clone())), None);
            }
            Value::Object(map) => {
                for (k, v) in map {
                    expected.insert((field.clone(), Some(k.clone())), v.as_u64());
                }
            }
            _ => {}
        }
    }
    // Field by field, then nothing more.
    for (key, count) in &expected {
        assert_eq!(rows.get(key), Some(count), "{key:?}");
    }
    assert_eq!(rows, expected);
    assert_eq!(expected[&("domains".into(), None)], Some(9));
}
