//! `dyntag ingest` of media files: videos made here with ffmpeg at known cut points, images,
//! transcript sidecars, metadata by file name, corrupt files, and an interrupted run resumed.

use std::path::Path;
use std::process::Command;

use crate::util::succeeded;

fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg is installed (scripts/setup)");
    succeeded(&out);
}

/// A 7.5 s, 10 fps video of three shots: a moving test pattern (0-2 s), colour bars
/// (2-5 s) and an RGB test pattern (5-7.5 s).
fn three_shot_video(path: &Path, crf: &str) {
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=10:duration=2",
        "-f",
        "lavfi",
        "-i",
        "smptebars=size=160x120:rate=10:duration=3",
        "-f",
        "lavfi",
        "-i",
        "mandelbrot=size=160x120:rate=10,trim=duration=2.5",
        "-filter_complex",
        "[0:v][1:v][2:v]concat=n=3:v=1:a=0,format=yuv420p[v]",
        "-map",
        "[v]",
        "-c:v",
        "libx264",
        "-g",
        "50",
        "-crf",
        crf,
        path.to_str().unwrap(),
    ]);
}

fn dyntag(data: &Path, args: &[&str], fault: Option<&str>) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dyntag"));
    cmd.arg("--data").arg(data).args(args);
    if let Some(f) = fault {
        cmd.env("DYNTAG_FAULT", f);
    }
    cmd.output().unwrap()
}

fn sql(data: &Path, q: &str) -> String {
    let out = dyntag(data, &["sql", "--format", "csv", "-e", q], None);
    assert!(
        out.status.success(),
        "{q}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn rows(csv: &str) -> Vec<Vec<String>> {
    csv.lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

fn library(dir: &Path) -> std::path::PathBuf {
    let media = dir.join("media");
    std::fs::create_dir_all(media.join("stills")).unwrap();
    three_shot_video(&media.join("clip.mp4"), "28");
    std::fs::write(
        media.join("clip.vtt"),
        "WEBVTT\n\n00:00:00.500 --> 00:00:01.800\nA test pattern moves.\n\n00:00:02.500 --> 00:00:04.500\nColour bars for calibration.\n",
    )
    .unwrap();
    for (name, rgb) in [("red", [220u8, 30, 30]), ("green", [30, 200, 60])] {
        image::RgbImage::from_pixel(40, 30, image::Rgb(rgb))
            .save(media.join("stills").join(format!("{name}.png")))
            .unwrap();
    }
    std::fs::write(
        media.join("videos.csv"),
        "path,SeriesName,EpisodeName\nclip.mp4,Tests,Three shots\n",
    )
    .unwrap();
    media
}

#[test]
fn video_shots_keyframes_transcripts_images_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let media = library(dir.path());
    let out = dyntag(
        &data,
        &[
            "ingest",
            "--dataset",
            "m",
            "--keyframe-interval",
            "1",
            media.to_str().unwrap(),
        ],
        None,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Shots: cuts at 2.0 s and 5.0 s, found within one frame interval (100 ms).
    let shots = rows(&sql(
        &data,
        "SELECT shot_index, start_time_ms, end_time_ms FROM m.coactive_shots WHERE coactive_video_id = 'clip' ORDER BY shot_index",
    ));
    assert_eq!(shots.len(), 3, "{shots:?}");
    let start: Vec<i64> = shots.iter().map(|r| r[1].parse().unwrap()).collect();
    let end: Vec<i64> = shots.iter().map(|r| r[2].parse().unwrap()).collect();
    assert_eq!(start[0], 0);
    assert!((start[1] - 2000).abs() <= 100, "{start:?}");
    assert!((start[2] - 5000).abs() <= 100, "{start:?}");
    assert!((end[2] - 7500).abs() <= 100, "{end:?}");

    // Keyframes lie inside their shots; a 3 s shot at a 1 s interval has 3.
    let kf = rows(&sql(
        &data,
        "SELECT k.keyframe_time_ms, s.start_time_ms, s.end_time_ms, s.shot_index FROM m.coactive_table k JOIN m.coactive_shots s ON k.coactive_video_id = s.coactive_video_id AND k.shot_id = s.shot_id ORDER BY k.keyframe_time_ms",
    ));
    assert!(kf.len() >= 7, "{kf:?}");
    for r in &kf {
        let (t, a, b): (i64, i64, i64) = (
            r[0].parse().unwrap(),
            r[1].parse().unwrap(),
            r[2].parse().unwrap(),
        );
        assert!(a <= t && t < b, "keyframe {t} outside its shot [{a}, {b})");
    }
    assert_eq!(kf.iter().filter(|r| r[3] == "1").count(), 3);

    // Transcript segments align with the video; metadata joined by file name.
    let t = rows(&sql(
        &data,
        "SELECT start_time_ms, text FROM m.coactive_transcripts WHERE coactive_video_id = 'clip' ORDER BY 1",
    ));
    assert_eq!(t.len(), 2);
    assert_eq!(t[0][0], "500");
    let meta = sql(
        &data,
        "SELECT duration_ms, \"SeriesName\", \"EpisodeName\" FROM m.coactive_videos",
    );
    let meta = rows(&meta);
    assert_eq!(meta.len(), 1);
    assert!(
        (meta[0][0].parse::<i64>().unwrap() - 7500).abs() <= 100,
        "{meta:?}"
    );
    assert_eq!(
        meta[0][1..],
        ["Tests".to_string(), "Three shots".to_string()]
    );

    // Images are single assets with embeddings of the model's dimension; thumbnails exist.
    let imgs = sql(
        &data,
        "SELECT coactive_image_id, coactive_video_id IS NULL AS single, arrow_typeof(embedding) AS t FROM m.coactive_table_adv WHERE coactive_video_id IS NULL ORDER BY 1",
    );
    assert!(
        imgs.contains("green,true,FixedSizeList") && imgs.contains("red,true"),
        "{imgs}"
    );
    assert!(data.join("datasets/m/thumbnails/red.jpg").is_file());
    assert!(data.join("datasets/m/thumbnails/clip-kf0000.jpg").is_file());

    // Re-running skips everything.
    let out = dyntag(
        &data,
        &["ingest", "--dataset", "m", media.to_str().unwrap()],
        None,
    );
    let again = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{again}");
    assert!(
        !again.lines().any(|l| l.starts_with("imported ")),
        "{again}"
    );
    assert_eq!(
        sql(&data, "SELECT count(*) AS n FROM m.coactive_shots"),
        "n\n3\n"
    );
}

#[test]
fn corrupt_files_are_reported_and_skipped_without_losing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let media = library(dir.path());
    let out = dyntag(
        &data,
        &[
            "ingest",
            "--dataset",
            "m",
            media.join("stills").to_str().unwrap(),
        ],
        None,
    );
    assert!(out.status.success());
    std::fs::write(media.join("broken.mp4"), b"this is not a video").unwrap();
    std::fs::write(
        media.join("stills/half.png"),
        &std::fs::read(media.join("stills/red.png")).unwrap()[..40],
    )
    .unwrap();
    std::fs::write(media.join("notes.txt"), "hello").unwrap();
    let out = dyntag(
        &data,
        &["ingest", "--dataset", "m", media.to_str().unwrap()],
        None,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a run that skipped files exits non-zero"
    );
    assert!(
        stdout.contains("FAILED") && stdout.contains("broken.mp4: not a readable video"),
        "{stdout}"
    );
    assert!(stdout.contains("half.png: cannot decode image"), "{stdout}");
    assert!(
        stdout.contains("notes.txt: unsupported file type '.txt'"),
        "{stdout}"
    );
    assert!(
        stderr.contains("3 file(s) could not be ingested"),
        "{stderr}"
    );
    // the good video and the earlier images are there
    assert_eq!(
        sql(&data, "SELECT count(*) AS n FROM m.coactive_videos"),
        "n\n1\n"
    );
    assert_eq!(
        sql(
            &data,
            "SELECT count(*) AS n FROM m.coactive_table WHERE coactive_video_id IS NULL"
        ),
        "n\n2\n"
    );
}

#[test]
fn an_interrupted_run_shows_nothing_half_done_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let media = library(dir.path());
    three_shot_video(&media.join("clip2.mp4"), "30");
    let args = ["ingest", "--dataset", "m", media.to_str().unwrap()];
    let out = dyntag(&data, &args, Some("after-media-commit"));
    assert!(!out.status.success(), "the fault point aborts the run");
    // The first commit (the images) is whole; no video row, shot or keyframe is visible.
    assert_eq!(
        sql(&data, "SELECT count(*) AS n FROM m.coactive_table"),
        "n\n2\n"
    );
    assert_eq!(
        sql(&data, "SELECT count(*) AS n FROM m.coactive_shots"),
        "n\n0\n"
    );
    let out = dyntag(&data, &args, None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("skipped image"), "{stdout}");
    assert_eq!(
        sql(&data, "SELECT count(*) AS n FROM m.coactive_shots"),
        "n\n6\n"
    );
    assert_eq!(
        sql(
            &data,
            "SELECT count(DISTINCT coactive_image_id) AS n, count(*) AS m FROM m.coactive_table"
        ),
        sql(
            &data,
            "SELECT count(*) AS n, count(*) AS m FROM m.coactive_table"
        )
    );
}

#[test]
fn a_clip_export_in_the_common_layout_works_without_code_change() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let media = library(dir.path());
    let clip = dir.path().join("models").join("my-clip");
    let root = crate::common::repo_root();
    let python = std::env::var("DYNTAG_PYTHON")
        .unwrap_or_else(|_| root.join(".venv/bin/python").display().to_string());
    let status = Command::new(python)
        .arg(root.join("tests/fixtures/make_clip_layout.py"))
        .arg(&clip)
        .arg(root.join("sample-data/models/default/tokenizer.json"))
        .status()
        .unwrap();
    assert!(status.success());
    let models = dir.path().join("models");
    let with_models = |args: &[&str]| {
        let mut all = vec!["--models", models.to_str().unwrap()];
        all.extend_from_slice(args);
        dyntag(&data, &all, None)
    };
    let stills = media.join("stills");
    let out = with_models(&[
        "ingest",
        "--dataset",
        "c",
        "--model",
        "my-clip",
        stills.to_str().unwrap(),
    ]);
    succeeded(&out);
    let out = with_models(&[
        "sql",
        "--dataset",
        "c",
        "--format",
        "csv",
        "-e",
        "CREATE TAG GROUP g ON DATASET c TAGS ('red', 'green'); SELECT arrow_typeof(embedding) AS t, round(dt_score(embedding, 'g', 'red'), 6) BETWEEN 0 AND 1 AS ok FROM coactive_table_adv LIMIT 1",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("FixedSizeList(8 x"), "{stdout}");
    assert!(stdout.contains(",true"), "{stdout}");
    let out = with_models(&[
        "sql",
        "--format",
        "csv",
        "-e",
        "SELECT visual_model FROM system.datasets WHERE dataset = 'c'",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "visual_model\nmy-clip\n"
    );
}

#[test]
fn the_sample_library_videos_are_cut_where_they_were_made() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sample = crate::common::sample_data();
    let videos = sample.join("library/videos");
    let out = dyntag(
        &data,
        &["ingest", "--dataset", "s", videos.to_str().unwrap()],
        None,
    );
    succeeded(&out);
    let truth = std::fs::read_to_string(sample.join("truth/shots_truth.csv")).unwrap();
    let found = rows(&sql(
        &data,
        "SELECT coactive_video_id, start_time_ms FROM s.coactive_shots ORDER BY 1, 2",
    ));
    let mut expected = 0;
    for line in truth.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let video = f[0].trim_end_matches(".mp4");
        let start: i64 = f[2].parse().unwrap();
        expected += 1;
        // within one frame interval (12 fps: 83 ms)
        assert!(
            found
                .iter()
                .any(|r| r[0] == video && (r[1].parse::<i64>().unwrap() - start).abs() <= 84),
            "no shot of {video} starts near {start} ms: {found:?}"
        );
    }
    assert_eq!(found.len(), expected, "no extra cuts");
}
