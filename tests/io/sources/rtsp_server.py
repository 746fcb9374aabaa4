"""A real RTSP server for the ``url`` source's tests: GStreamer's gst-rtsp-server.

Run with the system Python that has PyGObject (``/usr/bin/python3``; Debian packages
``python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good
gstreamer1.0-plugins-ugly``, which ``.ci/run`` installs)::

    /usr/bin/python3 tests/io/sources/rtsp_server.py FRAMES WIDTH HEIGHT RATE

It serves ``rtsp://127.0.0.1:PORT/test`` on a free port, prints ``PORT`` on a line of
its own once it listens, and streams FRAMES frames of GStreamer's test pattern as H.264
over RTP (what IP cameras send), over TCP or UDP as the client asks in its SETUP.
Each client gets its own pipeline from the first frame.  It runs until killed.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer


def main(frames: int, width: int, height: int, rate: int) -> None:
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service("0")  # a free port, read back below
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f"( videotestsrc is-live=true num-buffers={frames} pattern=ball "
        f"! video/x-raw,width={width},height={height},framerate={rate}/1 "
        f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={rate} "
        f"! rtph264pay name=pay0 pt=96 config-interval=1 )")
    factory.set_shared(False)
    server.get_mount_points().add_factory("/test", factory)
    server.attach(None)
    print(server.get_bound_port(), flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main(*(int(value) for value in sys.argv[1:5]))
