#!/usr/bin/env python3
"""tests/reports/render_check.py — the pictures as a browser and an XML parser see
them. Runs the reports test binary (which writes timeline_mlp.svg, pareto.svg and
report_mlp.html into a scratch folder), and `remat report` / `remat sweep` when the
command has them; checks every SVG with `xmllint --noout`; renders each HTML page in
headless Chromium and decodes the PNG screenshot (zlib + PNG filters, no PIL) to
check the page is not blank and both plots are visible (pixels of the timeline's
activation colour and of the Pareto plot's series colours).
Usage: render_check.py TEST_BINARY REMAT_BINARY. Exit 77 (skip) without chromium
or xmllint."""
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib


def decode_png(path):
    """Returns (width, height, channels, rows as bytes) of an 8-bit RGB/RGBA PNG."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = ihdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError(f"unsupported PNG (depth {depth}, colour type {ctype}, interlace {interlace})")
    ch = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = w * ch
    rows, prev = [], bytearray(stride)
    for y in range(h):
        ft = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if ft == 1:
            for i in range(ch, stride):
                line[i] = (line[i] + line[i - ch]) & 255
        elif ft == 2:
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 255
        elif ft == 3:
            for i in range(stride):
                left = line[i - ch] if i >= ch else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif ft == 4:
            for i in range(stride):
                a = line[i - ch] if i >= ch else 0
                b = prev[i]
                c = prev[i - ch] if i >= ch else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pr) & 255
        elif ft != 0:
            raise ValueError(f"bad PNG filter {ft}")
        rows.append(bytes(line))
        prev = line
    return w, h, ch, rows


def pixel_stats(path, colours):
    """(fraction of non-white pixels, {colour: pixels within 24 of it per channel})."""
    w, h, ch, rows = decode_png(path)
    nonwhite = 0
    near = {c: 0 for c in colours}
    rgb = {c: (int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16)) for c in colours}
    for line in rows:
        for x in range(0, w * ch, ch):
            r, g, b = line[x], line[x + 1], line[x + 2]
            if r < 245 or g < 245 or b < 245:
                nonwhite += 1
                for c, (cr, cg, cb) in rgb.items():
                    if abs(r - cr) < 24 and abs(g - cg) < 24 and abs(b - cb) < 24:
                        near[c] += 1
    return nonwhite / float(w * h), near


def screenshot(browser, html, png):
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--force-device-scale-factor=0.5", "--window-size=1000,3200",
                    f"--screenshot={png}", "file://" + os.path.abspath(html)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)


def main():
    test_bin, remat = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    xmllint = shutil.which("xmllint")
    if not browser or not xmllint:
        print("SKIP: chromium or xmllint not installed")
        return 77
    failures = []
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ)
        subprocess.run([test_bin], cwd=d, check=True, stdout=subprocess.DEVNULL, env=env)
        pages = [os.path.join(d, "report_mlp.html")]
        svgs = [os.path.join(d, "timeline_mlp.svg"), os.path.join(d, "pareto.svg")]
        # the command line end to end, where this build has the commands
        if subprocess.run([remat, "report", "--help"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0:
            out = os.path.join(d, "cli.html")
            subprocess.run([remat, "report", "--model", "mlp", "--set", "depth=8,width=256",
                            "--batch", "1024", "--target", "cpu", "--budget", "16MB", "-o", out],
                           check=True, stderr=subprocess.DEVNULL)
            pages.append(out)
        if subprocess.run([remat, "sweep", "--help"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0:
            base = os.path.join(d, "sweep")
            subprocess.run([remat, "sweep", "--model", "mlp", "--set", "depth=8,width=256", "--batch", "1024",
                            "--target", "cpu", "--budgets", "11MB:19MB:1MB", "--solvers", "sqrt,greedy",
                            "-o", base], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            svgs.append(base + ".svg")
        for s in svgs:
            r = subprocess.run([xmllint, "--noout", s], capture_output=True, text=True)
            if r.returncode != 0:
                failures.append(f"{os.path.basename(s)} is not well-formed XML: {r.stderr.strip()}")
        for page in pages:
            png = page + ".png"
            screenshot(browser, page, png)
            series = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]  # svg.c's first four series
            frac, near = pixel_stats(png, ["#4e79a7"] + series)
            lines = sum(near[c] for c in series)
            name = os.path.basename(page)
            print(f"{name}: {frac * 100:.1f}% non-white, timeline activations {near['#4e79a7']} px, "
                  f"Pareto series {lines} px")
            if frac < 0.02:
                failures.append(f"{name}: the screenshot is blank ({frac * 100:.2f}% non-white)")
            if near["#4e79a7"] < 200:
                failures.append(f"{name}: the memory timeline is not visible")
            if lines < 60:
                failures.append(f"{name}: the Pareto plot is not visible")
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
