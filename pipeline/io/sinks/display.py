"""Whether a window can be shown here, checked before OpenCV's highgui is touched.

OpenCV's Qt backend aborts the whole process (not an exception) when it cannot reach a
display, so the ``window`` sink asks :func:`display_problem` first and raises a
:class:`~pipeline.io.base.SinkError` with :data:`NO_DISPLAY_HINT` instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import socket
from pathlib import Path

import cv2

NO_DISPLAY_HINT = (
    "use a `video`, `images` or `http` sink instead, or run under a virtual display "
    "with `xvfb-run -a edgepipe run ...`"
)


def _x_display_problem(display: str) -> str | None:
    """Why an X client cannot connect to ``display``, or None if it can.

    Uses libX11's ``XOpenDisplay`` when the library is present (checks the server and
    its authorization, exactly what Qt will need); otherwise tries the X socket.
    """
    library = ctypes.util.find_library("X11")
    if library:
        try:
            xlib = ctypes.CDLL(library)
            xlib.XOpenDisplay.restype = ctypes.c_void_p
            xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
            xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
            handle = xlib.XOpenDisplay(display.encode())
            if not handle:
                return f"no X server accepts connections on DISPLAY={display!r} (not running, or not authorized)"
            xlib.XCloseDisplay(handle)
            return None
        except (OSError, AttributeError):  # pragma: no cover - broken libX11: try the socket
            pass
    host, _, rest = display.rpartition(":")
    number = rest.split(".")[0]
    if not number.isdigit():
        return f"DISPLAY={display!r} is not of the form [host]:number[.screen]"
    try:
        if host in ("", "unix"):
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(2.0)
                sock.connect(f"/tmp/.X11-unix/X{number}")
        else:
            socket.create_connection((host, 6000 + int(number)), timeout=2.0).close()
    except OSError:
        return f"no X server answers on DISPLAY={display!r}"
    return None


def _qt_has_wayland() -> bool:
    """Whether this OpenCV's Qt can draw on Wayland without X (it usually ships xcb only)."""
    plugins = Path(cv2.__file__).parent / "qt" / "plugins" / "platforms"
    return any("wayland" in p.name for p in plugins.glob("*")) if plugins.is_dir() else False


def display_problem() -> str | None:
    """Why a window cannot be shown here, or None when it can.

    Checked before anything opens: OpenCV's Qt backend aborts the whole process (not an
    exception) when it cannot reach a display.
    """
    display = os.environ.get("DISPLAY", "")
    wayland = os.environ.get("WAYLAND_DISPLAY", "")
    if not display:
        if wayland and _qt_has_wayland():
            return None
        if wayland:
            return "WAYLAND_DISPLAY is set but DISPLAY is not, and this OpenCV's window needs X (XWayland)"
        return "there is no display (neither DISPLAY nor WAYLAND_DISPLAY is set)"
    return _x_display_problem(display)


def quiet_qt_fonts() -> None:
    """Point Qt at system fonts: opencv-python's Qt ships none and warns on every start."""
    if "QT_QPA_FONTDIR" in os.environ or (Path(cv2.__file__).parent / "qt" / "fonts").is_dir():
        return
    for folder in ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype", "/usr/share/fonts"):
        if os.path.isdir(folder):
            os.environ["QT_QPA_FONTDIR"] = folder
            return
