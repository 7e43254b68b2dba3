"""Item 6: CPU time of media.probe + media.poster_jpeg on a 10 s 1080p H.264 + AAC clip.

    python -m bench.probe                  # the sandbox's own encoding (x264 ultrafast)
    python -m bench.probe --preset medium  # also a high-profile encode with B-frames, closer
                                           # to what a real service sends (adds ~1 min)

The clip is rendered once with the sandbox's renderer (``render.render_clip``) into a temp file.
``time.process_time`` (all threads of the process, so PyAV's decoder threads count) is taken
around ``probe`` + ``poster_jpeg``; the first (cold) call is reported apart, then the median of
``--reps`` warm calls. Verdict: warm median <= 0.3 s.
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
from fractions import Fraction

from bench import harness
from bench.harness import median, say

GOAL = 0.3


def render(path: str) -> None:
    from PIL import Image

    from django_kling.testing.sandbox.render import render_clip

    clip = render_clip(Image.open(io.BytesIO(harness.photo(1920, 1080))), None, width=1920,
                       height=1080, duration=10, audio=True)
    with open(path, "wb") as fh:
        fh.write(clip)


def reencode(source: str, target: str, preset: str) -> None:
    """The same pictures and sound, encoded by x264 ``preset`` (high profile, B-frames)."""
    import av

    with av.open(source) as src, av.open(target, "w", format="mp4") as out:
        video_in = src.streams.video[0]
        video = out.add_stream("libx264", rate=30, options={"preset": preset, "crf": "20"})
        video.width, video.height, video.pix_fmt = 1920, 1080, "yuv420p"
        audio = out.add_stream("aac", rate=44100, layout="mono")
        for index, frame in enumerate(src.decode(video_in)):
            frame.pts, frame.time_base = index, Fraction(1, 30)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        src.seek(0)
        for frame in src.decode(src.streams.audio[0]):
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))


def measure(path: str, reps: int) -> tuple[float, list[float], dict]:
    from django_kling.files import media

    def once() -> float:
        start = time.process_time()
        info = media.probe(path, require_audio=True)
        poster, width, height = media.poster_jpeg(path)
        spent = time.process_time() - start
        assert (info.width, info.height, info.has_audio) == (1920, 1080, True), info
        assert abs(info.duration - 10) < 0.1 and info.fps == 30.0, info
        assert (width, height) == (1920, 1080) and poster[:2] == b"\xff\xd8"
        return spent

    cold = once()
    warm = [once() for _ in range(reps)]
    # Where the time goes (warm): the probe alone, then the poster alone.
    probe = median([_timed(lambda: media.probe(path, require_audio=True)) for _ in range(reps)])
    poster = median([_timed(lambda: media.poster_jpeg(path)) for _ in range(reps)])
    return cold, warm, {"probe": probe, "poster_jpeg": poster}


def _timed(func) -> float:
    start = time.process_time()
    func()
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--quick", action="store_true", help="5 repetitions")
    parser.add_argument("--preset", default=None,
                        help="also measure a re-encode with this x264 preset (e.g. medium)")
    args = parser.parse_args()
    reps = 5 if args.quick else args.reps
    harness.setup_django()

    results = {}
    with harness.time_limit(300, "probe"), tempfile.TemporaryDirectory(
            prefix="kling-bench-probe-") as folder:
        sandbox_clip = os.path.join(folder, "sandbox.mp4")
        started = time.perf_counter()
        render(sandbox_clip)
        say(f"rendered 10 s 1080p H.264 + AAC (x264 ultrafast): "
            f"{os.path.getsize(sandbox_clip)} bytes in {time.perf_counter() - started:.1f} s")
        clips = {"x264 ultrafast (sandbox)": sandbox_clip}
        if args.preset:
            other = os.path.join(folder, f"{args.preset}.mp4")
            started = time.perf_counter()
            reencode(sandbox_clip, other, args.preset)
            say(f"re-encoded with x264 {args.preset}: {os.path.getsize(other)} bytes in "
                f"{time.perf_counter() - started:.1f} s")
            clips[f"x264 {args.preset}"] = other
        busy, started = harness.machine_busy(), time.perf_counter()
        for label, path in clips.items():
            results[label] = measure(path, reps)
        note = harness.load_note(busy, time.perf_counter() - started)

    say(f"\nCPU seconds (process_time, all threads) for probe + poster_jpeg, {reps} warm runs:")
    worst = 0.0
    for label, (cold, warm, parts) in results.items():
        worst = max(worst, median(warm))
        say(f"  {label:<26} cold {cold:.3f}  warm median {median(warm):.3f}  "
            f"(probe {parts['probe']:.3f}, poster {parts['poster_jpeg']:.3f})  "
            f"[{', '.join(f'{v:.3f}' for v in warm)}]")
    say(f"  {note}")
    harness.verdict("6 probe + poster", worst <= GOAL,
                    f"{worst:.3f} s CPU for a 10 s 1080p clip, goal <= {GOAL} s")


if __name__ == "__main__":
    main()
