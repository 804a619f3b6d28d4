"""Noto Color Emoji drawings with their CLDR names and keywords: extra training images for the
default image tower (Debian packages fonts-noto-color-emoji, OFL; unicode-cldr-core).

Emoji are clip-art drawings of everyday things (alarm clock, tropical fish, top hat, sailboat)
each with an English name and keywords from the Unicode CLDR annotations, so they are captioned
images in the same sense as Openclipart's title and keywords. None of them is in the sample
library.
"""

import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from openclipart import fit_on_white

FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
ANNOTATIONS = Path("/usr/share/unicode/cldr/common/annotations/en.xml")
_ENTRY = re.compile(r'<annotation cp="([^"]+)"( type="tts")?>([^<]*)</annotation>')
_font = None


def require_packages():
    if not FONT.exists() or not ANNOTATIONS.exists():
        raise SystemExit("apt-get install fonts-noto-color-emoji unicode-cldr-core")


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


def entries():
    """[(emoji, caption)]: caption = "name. keyword, keyword, ..." as CLDR gives them."""
    require_packages()
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
    return out


def render(cp: str, size: int):
    """The emoji over white, fitted in size x size like openclipart.render; None when the font
    has no colour glyph for it."""
    global _font
    if _font is None:
        _font = ImageFont.truetype(str(FONT), 109)  # the font's only bitmap size
    canvas = Image.new("RGBA", (256, 160), (255, 255, 255, 0))
    ImageDraw.Draw(canvas).text((8, 8), cp, font=_font, embedded_color=True)
    box = canvas.getbbox()
    if box is None:
        return None
    im = canvas.crop(box)
    rgb = np.asarray(im, np.float32)[..., :3][np.asarray(im)[..., 3] > 0]
    if len(rgb) == 0 or rgb.std(axis=1).mean() < 4:  # a missing glyph draws grey or nothing
        return None
    return fit_on_white(im, size)
