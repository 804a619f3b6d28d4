"""Emoji drawings with their CLDR names and keywords: extra training images for the default
image tower, from three Debian packages that draw the same code points in three styles:

- "noto":     Noto Color Emoji (fonts-noto-color-emoji, OFL), colour;
- "emojione": EmojiOne 2 PNGs shipped with the gemojione gem (ruby-gemojione, CC-BY-SA 4.0), colour;
- "symbola":  the Symbola font (fonts-symbola, free for any use), black line drawings.

Emoji are clip-art drawings of everyday things (alarm clock, tropical fish, top hat, sailboat)
each with an English name and keywords from the Unicode CLDR annotations (unicode-cldr-core),
so they are captioned images in the same sense as Openclipart's title and keywords. None of
them is in the sample library.
"""

import functools
import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from openclipart import fit_on_white

FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
EMOJIONE = Path("/usr/share/rubygems-integration/all/gems/gemojione-3.3.0/assets/png")
SYMBOLA = Path("/usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf")
ANNOTATIONS = Path("/usr/share/unicode/cldr/common/annotations/en.xml")
PACKAGES = {"noto": (FONT, "fonts-noto-color-emoji"), "emojione": (EMOJIONE, "ruby-gemojione"),
            "symbola": (SYMBOLA, "fonts-symbola")}
_ENTRY = re.compile(r'<annotation cp="([^"]+)"( type="tts")?>([^<]*)</annotation>')


def require_packages(source: str):
    path, package = PACKAGES[source]
    if not path.exists() or not ANNOTATIONS.exists():
        raise SystemExit(f"apt-get install {package} unicode-cldr-core")


@functools.cache
def _font(source: str, size: int):
    return ImageFont.truetype(str(PACKAGES[source][0]), size)


def _hex(cp: str) -> str:
    """The code points without variation selectors, as gemojione names its files (1F426)."""
    return "-".join(f"{ord(ch):04X}" for ch in cp if ch != "\ufe0f")


def _pictographic(cp: str) -> bool:
    """Whether every code point is in an emoji block (no skin tones, flags' regional
    letters, keycap digits or plain symbols)."""
    for ch in cp:
        o = ord(ch)
        if 0x1F3FB <= o <= 0x1F3FF or 0x1F1E6 <= o <= 0x1F1FF:
            return False
        if not (o >= 0x1F000 or 0x2300 <= o <= 0x27BF or o in (0x200D, 0xFE0F)):
            return False
    return True


def entries(source: str = "noto"):
    """[(emoji, caption)] that `source` may draw: caption = "name. keyword, keyword, ..." as
    CLDR gives them."""
    require_packages(source)
    names, keywords = {}, {}
    for cp, tts, value in _ENTRY.findall(ANNOTATIONS.read_text()):
        if not _pictographic(cp):
            continue
        if tts:
            names[cp] = value.strip()
        else:
            keywords[cp] = [k.strip() for k in value.split("|") if k.strip()]
    out = []
    for cp, name in sorted(names.items()):
        kws = [k for k in keywords.get(cp, []) if k != name]
        out.append((cp, f"{name}. {', '.join(kws)}" if kws else name))
    if source == "emojione":
        files = {p.stem for p in EMOJIONE.glob("*.png")}
        out = [(cp, caption) for cp, caption in out if _hex(cp) in files]
    elif source == "symbola":  # one glyph per code point: no sequences
        out = [(cp, caption) for cp, caption in out if len(cp.replace("\ufe0f", "")) == 1]
    return out


def render(cp: str, size: int, source: str = "noto"):
    """The emoji over white, fitted in size x size like openclipart.render; None when the
    source has no drawing of it."""
    if source == "emojione":
        with Image.open(EMOJIONE / f"{_hex(cp)}.png") as im:
            return fit_on_white(im.convert("RGBA"), size)
    if source == "symbola":
        return _render_symbola(cp, size)
    canvas = Image.new("RGBA", (256, 160), (255, 255, 255, 0))
    # 109 px is the Noto font's only bitmap size
    ImageDraw.Draw(canvas).text((8, 8), cp, font=_font("noto", 109), embedded_color=True)
    box = canvas.getbbox()
    if box is None:
        return None
    im = canvas.crop(box)
    rgb = np.asarray(im, np.float32)[..., :3][np.asarray(im)[..., 3] > 0]
    if len(rgb) == 0 or rgb.std(axis=1).mean() < 4:  # a missing glyph draws grey or nothing
        return None
    return fit_on_white(im, size)


def _symbola_glyph(text: str):
    """The black glyph drawn on a transparent canvas, cropped (None if nothing is drawn)."""
    canvas = Image.new("L", (256, 160), 0)
    ImageDraw.Draw(canvas).text((8, 8), text, font=_font("symbola", 96), fill=255)
    box = canvas.getbbox()
    return None if box is None else canvas.crop(box)


@functools.cache
def _symbola_missing():
    """The box Symbola draws for a code point it lacks (here a private-use one)."""
    return np.asarray(_symbola_glyph("\U000F0000"))


def _render_symbola(cp: str, size: int):
    glyph = _symbola_glyph(cp.replace("\ufe0f", ""))
    if glyph is None or np.array_equal(np.asarray(glyph), _symbola_missing()):
        return None
    rgba = Image.new("RGBA", glyph.size, (0, 0, 0, 0))
    rgba.putalpha(glyph)
    return fit_on_white(rgba, size)
