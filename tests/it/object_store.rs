//! Datasets, definitions and scores on an `s3://` store: a real S3 endpoint (moto) on
//! loopback, talked to by the `dyntag` binary.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::common;
use crate::util::succeeded;

pub struct S3 {
    child: Child,
    port: u16,
}

impl S3 {
    pub fn start() -> Self {
        let root = common::repo_root();
        let python = std::env::var("DYNTAG_PYTHON")
            .unwrap_or_else(|_| format!("{}/.venv/bin/python", root.display()));
        let mut child = Command::new(python)
            .arg(root.join("tests/fixtures/s3_server.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python with moto (scripts/setup installs it)");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .expect("the S3 server's port")
            .parse()
            .unwrap();
        Self { child, port }
    }

    /// The environment a `dyntag` process reaches the store with.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", format!("http://127.0.0.1:{}", self.port)),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    /// The data root on the store.
    pub const DATA: &str = "s3://dyntag-test/data";

    pub fn dyntag(&self, args: &[&str]) -> std::process::Output {
        self.dyntag_with_env(args, &[])
    }

    /// [`S3::dyntag`] with more environment variables.
    pub fn dyntag_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_dyntag"))
            .envs(self.env())
            .envs(env.iter().copied())
            .args(["--data", Self::DATA])
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

#[test]
fn a_dataset_lives_on_s3() {
    let s3 = S3::start();
    let mut ingest = vec![
        "ingest".to_string(),
        "--dataset".into(),
        "news".into(),
        "--quiet".into(),
    ];
    ingest.extend(
        common::transcript_files()
            .iter()
            .map(|p| p.to_string_lossy().into_owned()),
    );
    ingest.extend([
        "--metadata".into(),
        common::sample_data()
            .join("transcripts/episodes.csv")
            .to_string_lossy()
            .into_owned(),
    ]);
    let args: Vec<&str> = ingest.iter().map(String::as_str).collect();
    let out = s3.dyntag(&args);
    succeeded(&out);

    let out = s3.dyntag(&["sql", "--dataset", "news", "-e", "CREATE TAG GROUP Topics ON DATASET news TAGS ('cooking', 'wildlife'); PREVIEW TAG 'cooking' IN GROUP topics; PREVIEW TAG 'wildlife' IN GROUP topics; PUBLISH TAG GROUP topics"]);
    succeeded(&out);
    let out = s3.dyntag(&[
        "sql", "--dataset", "news", "--format", "csv", "-e",
        "SELECT tag_name, coactive_video_id FROM (SELECT *, row_number() OVER (PARTITION BY tag_name ORDER BY score DESC) AS r FROM dt_topics_transcript) WHERE r = 1 ORDER BY 1",
    ]);
    succeeded(&out);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "tag_name,coactive_video_id\ncooking,cooking_pasta\nwildlife,wildlife_savanna\n"
    );
    // Create-if-absent holds on S3 too: the group exists, a second create is refused.
    let out = s3.dyntag(&[
        "sql",
        "--dataset",
        "news",
        "-e",
        "CREATE TAG GROUP topics ON DATASET news TAGS ('x')",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("tag group 'Topics' already exists"));
}
