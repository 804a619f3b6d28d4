"""Writing a sample episode: its video from raw RGB frames (H.264 through ffmpeg) and its
WebVTT transcript. Used by build_sample_library.py and library_photos.py."""

import subprocess
from pathlib import Path

FPS, W, H = 12, 320, 240


class Video:
    """An H.264 video written frame by frame (`write(rgb24 bytes)`), closed by `close()`."""

    def __init__(self, path: Path):
        self.path = path
        self.ff = subprocess.Popen(
            ["ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}",
             "-r", str(FPS), "-i", "-", "-c:v", "libx264", "-preset", "veryslow", "-crf", "30",
             "-pix_fmt", "yuv420p", "-g", str(FPS * 10), str(path)], stdin=subprocess.PIPE)

    def write(self, frame: bytes):
        self.ff.stdin.write(frame)

    def close(self):
        self.ff.stdin.close()
        if self.ff.wait() != 0:
            raise SystemExit(f"ffmpeg failed on {self.path}")


def ms(t: float) -> str:
    t = int(round(t * 1000))
    return f"{t // 3600000:02d}:{t // 60000 % 60:02d}:{t // 1000 % 60:02d}.{t % 1000:03d}"


def write_vtt(path: Path, cues):
    """A WebVTT file of (start s, end s, text) cues."""
    with open(path, "w") as vtt:
        vtt.write("WEBVTT\n\n")
        for i, (a, b, text) in enumerate(cues, 1):
            vtt.write(f"{i}\n{ms(a)} --> {ms(b)}\n{text}\n\n")
