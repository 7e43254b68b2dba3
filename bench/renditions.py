"""Issue 25: what renditions cost and what they save, measured side by side in one run.

1. A 10 s 1080p clip with sound (the sandbox's renderer, saved as the provider sends it: index
   last), made faststart by ``files.faststart`` (the remux's time).
2. Each rendition of ``RENDITIONS`` (default settings) encoded by ``files.renditions.encode``
   in a child process pinned to one core with one encoder thread: wall time, CPU time, peak
   RSS of that process, bytes against the original (goal: 480p <= 25 %, 720p <= 50 %).
3. With ``--browser`` (Debian's Chromium): time to the first frame of the original as the
   provider sent it (index last), of the faststart original and of the 480p file in a page
   served over loopback, on a throttled connection (Chromium's network
   emulation: ``--down`` kbit/s, ``--latency`` ms), each loaded ``--runs`` times cold.

    python -m bench.renditions [--quick] [--browser] [--seconds 10]

No database, broker or Django settings: the encoder and the remux work on files.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

GOALS = {"480p": 0.25, "720p": 0.50}
DEFAULT_RENDITIONS = [
    {"name": "480p", "height": 480, "max_bitrate": 1_000_000, "audio_bitrate": 96_000},
    {"name": "720p", "height": 720, "max_bitrate": 2_500_000, "audio_bitrate": 128_000},
]


def make_source(folder: Path, seconds: int) -> Path:
    from PIL import Image, ImageDraw

    from django_kling.testing.sandbox.render import render_clip

    # A picture with detail (lines, text, gradients) so that x264 has something to spend bits on.
    def picture(shift: int) -> Image.Image:
        image = Image.new("RGB", (1920, 1080))
        draw = ImageDraw.Draw(image)
        for x in range(0, 1920, 6):
            draw.line([(x, 0), ((x * 7 + shift) % 1920, 1080)],
                      fill=((x * 3) % 256, (x + shift) % 256, (255 - x) % 256))
        for y in range(0, 1080, 40):
            draw.text((20 + shift % 200, y), "django-kling renditions " * 6, fill="white")
        return image

    raw = folder / "render.mp4"
    raw.write_bytes(render_clip(picture(0), picture(150), width=1920, height=1080,
                                duration=seconds, audio=True))
    return raw


def provider_like(raw: Path, mbps: float) -> Path:
    """The render re-encoded at a provider's bitrate (1080p at ``mbps``), index last."""
    import av

    from django_kling.files.renditions import encode

    encoded = raw.with_name("encoded.mp4")
    encode(raw, encoded, {"height": 1080, "max_bitrate": int(mbps * 1e6), "crf": 16,
                          "audio_bitrate": 192_000}, preset="fast", threads=2)
    path = raw.with_name("original.mp4")

    # Written again without faststart: what most providers' muxers send.
    with av.open(str(encoded)) as src, av.open(str(path), "w", format="mp4") as out:
        copies = {s.index: out.add_stream_from_template(s) for s in src.streams}
        for packet in src.demux():
            if packet.dts is not None:
                packet.stream = copies[packet.stream.index]
                out.mux(packet)
    return path


def peak_rss_mib() -> float:
    """This process's peak RSS (``VmHWM``: unlike ``ru_maxrss``, exec starts it afresh, so
    the parent's memory before the fork is not counted)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def child(source: str, target: str, spec_json: str) -> None:
    """One rendition, alone in this process on one core; prints its figures as JSON."""
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    from django_kling.files.renditions import encode

    spec = json.loads(spec_json)
    wall, cpu = time.perf_counter(), time.process_time()
    encoded = encode(source, target, spec, preset="veryfast", threads=1)
    print(json.dumps({"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
                      "rss_mib": peak_rss_mib(),
                      "size": encoded.size, "width": encoded.width,
                      "height": encoded.height, "bitrate": encoded.bitrate}))


def encode_all(source: Path, folder: Path) -> dict[str, dict]:
    results = {}
    for spec in DEFAULT_RENDITIONS:
        target = folder / f"{spec['name']}.mp4"
        out = subprocess.run([sys.executable, "-m", "bench.renditions", "--child", str(source),
                              str(target), json.dumps(spec)], check=True, capture_output=True,
                             text=True, timeout=600)
        results[spec["name"]] = json.loads(out.stdout.strip().splitlines()[-1])
    return results


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


PAGE = """<!doctype html><video muted playsinline preload="auto" src="{src}"></video>
<script>
const v = document.querySelector('video');
v.addEventListener('loadeddata', () => {{ window.firstFrame = performance.now(); }});
</script>"""


def first_frame_times(folder: Path, names: list[str], runs: int, down_kbps: int,
                      latency_ms: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    for name in names:
        (folder / f"{name}.html").write_text(PAGE.format(src=f"{name}.mp4"))
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
    server.handle_error = lambda *args: None  # the browser drops connections it is done with
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    times: dict[str, list[float]] = {name: [] for name in names}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=os.environ.get("KLING_CHROMIUM", "/usr/bin/chromium"),
                args=["--no-sandbox", "--disable-gpu",
                      "--autoplay-policy=no-user-gesture-required"])
            for _run in range(runs):
                for name in names:  # side by side: each run loads both, cold
                    context = browser.new_context()
                    page = context.new_page()
                    cdp = context.new_cdp_session(page)
                    cdp.send("Network.enable")
                    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
                    cdp.send("Network.emulateNetworkConditions", {
                        "offline": False, "latency": latency_ms,
                        "downloadThroughput": down_kbps * 1000 / 8,
                        "uploadThroughput": down_kbps * 1000 / 8})
                    page.goto(f"{base}/{name}.html")
                    page.wait_for_function("window.firstFrame !== undefined", timeout=300_000)
                    times[name].append(page.evaluate("window.firstFrame") / 1000)
                    context.close()
            browser.close()
    finally:
        server.shutdown()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="a 3 s clip")
    parser.add_argument("--browser", action="store_true", help="time to first frame too")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--down", type=int, default=4000, help="kbit/s of the throttle")
    parser.add_argument("--latency", type=int, default=150, help="ms of the throttle")
    parser.add_argument("--source-mbps", type=float, default=8.0,
                        help="bitrate of the 1080p original (a provider's file)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    from django_kling.files import faststart

    seconds = 3 if args.quick else args.seconds
    with tempfile.TemporaryDirectory(prefix="kling-bench-") as tmp:
        folder = Path(tmp)
        source = provider_like(make_source(folder, seconds), args.source_mbps)
        boxes_before = faststart.top_level_boxes(source)
        # Kept as the provider sent it (index last), for the first-frame comparison.
        (folder / "index-last.mp4").write_bytes(source.read_bytes())
        started = time.perf_counter()
        faststart.make_faststart(str(source))
        remux = time.perf_counter() - started
        original = source.stat().st_size
        print(f"original: 1920x1080, {seconds} s, {original / 2**20:.2f} MiB "
              f"({original * 8 / seconds / 1e6:.2f} Mbit/s); boxes {boxes_before} -> "
              f"{faststart.top_level_boxes(source)}; faststart remux {remux * 1000:.0f} ms")
        results = encode_all(source, folder)
        verdict = True
        print("rendition  size        wall s  cpu s  peak RSS MiB  bytes/original  goal")
        for name, r in results.items():
            ratio = r["size"] / original
            verdict &= ratio <= GOALS[name]
            print(f"{name:<9}  {r['width']}x{r['height']:<5} {r['wall']:6.2f}  {r['cpu']:5.2f}"
                  f"  {r['rss_mib']:12.0f}  {ratio:14.1%}  <= {GOALS[name]:.0%}")
        if args.browser:
            times = first_frame_times(folder, ["index-last", "original", "480p"], args.runs,
                                      args.down,
                                      args.latency)
            for name, values in times.items():
                print(f"first frame, {name}: median {statistics.median(values):.2f} s "
                      f"({', '.join(f'{v:.2f}' for v in values)}) at {args.down} kbit/s, "
                      f"{args.latency} ms")
        print(f"VERDICT: {'PASS' if verdict else 'MISS'} (bytes goals)")


if __name__ == "__main__":
    main()
