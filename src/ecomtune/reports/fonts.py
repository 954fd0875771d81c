"""Find a CJK-capable font so Chinese class names don't render as empty boxes."""

from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache

from matplotlib import font_manager

# Common CJK families across Linux, macOS and Windows, best first.
_CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Sans CJK TC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Hiragino Sans GB",
    "Heiti SC",
    "Arial Unicode MS",
)


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """Family name of an installed CJK font, or None when the system has none."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    for family in _CJK_FAMILIES:
        if family in installed:
            return family
    # matplotlib's font cache can predate a font installed later: ask fontconfig.
    return _register_from_fontconfig()


def _register_from_fontconfig() -> str | None:
    if shutil.which("fc-list") is None:
        return None
    try:
        listing = subprocess.run(
            ["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    paths = [line.split(":", 1)[0].strip() for line in listing.splitlines()]
    for path in sorted(paths, key=lambda p: ("Bold" in p, p)):  # regular weight first
        try:
            font_manager.fontManager.addfont(path)
            return font_manager.get_font(path).family_name
        except (OSError, RuntimeError, ValueError):
            continue  # unreadable or unsupported font file: try the next one
    return None


def font_rc() -> dict:
    """rcParams that keep DejaVu Sans for Latin text and fall back to CJK glyphs."""
    families = ["DejaVu Sans"]
    if (cjk := cjk_font()) is not None:
        families.append(cjk)
    # Glyph fallback only walks concrete families listed in font.family; a generic
    # "sans-serif" would resolve to a single font.
    return {"font.family": families}
