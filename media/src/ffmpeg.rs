//! Running `ffmpeg` as a subprocess that writes raw RGB frames to a pipe.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::{MediaError, Result};

/// Checks that `ffmpeg` and `ffprobe` can be run.
pub fn require_ffmpeg() -> Result<()> {
    for program in ["ffmpeg", "ffprobe"] {
        let ok = Command::new(program)
            .arg("-version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            return Err(MediaError::MissingProgram { program });
        }
    }
    Ok(())
}

/// Raw RGB frames of a video, `width × height` each, read one at a time.
pub(crate) struct RawFrames {
    child: Child,
    path: std::path::PathBuf,
    frame_bytes: usize,
}

impl RawFrames {
    /// Decodes `path` through the filter graph `filters`, which must end in frames of
    /// exactly `width × height`.
    pub(crate) fn spawn(path: &Path, filters: &str, width: u32, height: u32) -> Result<Self> {
        let child = Command::new("ffmpeg")
            .args(["-nostdin", "-loglevel", "error", "-i"])
            .arg(path)
            .args(["-map", "0:v:0", "-an", "-sn", "-dn", "-vf", filters])
            .args([
                "-fps_mode",
                "passthrough",
                "-pix_fmt",
                "rgb24",
                "-f",
                "rawvideo",
                "pipe:1",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => MediaError::MissingProgram { program: "ffmpeg" },
                _ => MediaError::unreadable(path, format!("cannot run ffmpeg: {e}")),
            })?;
        Ok(Self {
            child,
            path: path.to_path_buf(),
            frame_bytes: width as usize * height as usize * 3,
        })
    }

    /// The next frame into `buf` (resized to one frame); `false` at the end of the stream.
    pub(crate) fn next_into(&mut self, buf: &mut Vec<u8>) -> Result<bool> {
        buf.resize(self.frame_bytes, 0);
        let out = self.child.stdout.as_mut().expect("piped");
        let mut filled = 0;
        while filled < buf.len() {
            match out.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(MediaError::unreadable(&self.path, e.to_string())),
            }
        }
        if filled == buf.len() {
            return Ok(true);
        }
        self.finish()?;
        Ok(false)
    }

    /// Waits for ffmpeg and turns a failure into an error carrying its message.
    pub(crate) fn finish(&mut self) -> Result<()> {
        drop(self.child.stdout.take());
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let status = self
            .child
            .wait()
            .map_err(|e| MediaError::unreadable(&self.path, e.to_string()))?;
        if !status.success() {
            let first = err
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim();
            return Err(MediaError::unreadable(
                &self.path,
                format!("ffmpeg could not decode it: {first}"),
            ));
        }
        Ok(())
    }
}

impl Drop for RawFrames {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
