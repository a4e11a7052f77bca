#!/usr/bin/env python3
"""Seed inputs for the cargo-fuzz targets, cut from ../shared/data.

    fuzz_seeds.py DATA_DIR OUT_DIR {licensed|all}

Writes OUT_DIR/<target>/<name> files. `licensed` writes only what may be committed to this
repository (the web-platform-tests srcset cases, BSD-3-Clause, and google/robotstxt's test
suite, Apache-2.0; see fuzz/seeds/NOTICE); `all` adds inputs used at run time only and never
committed: the readability pages (their contents belong to their publishers), the
sanctuaries mirror (no licence stated), Conceptual Captions alt texts and the JSON-LD and
CSS found in those pages.
"""

import hashlib
import json
import os
import re
import sys

# libFuzzer slows down on inputs far larger than what it mutates; big pages are cut.
MAX_SEED_BYTES = 256 * 1024


def write(out, target, data, tag):
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    data = data[:MAX_SEED_BYTES]
    if not data:
        return
    name = f"{tag}-{hashlib.sha1(data).hexdigest()[:12]}"
    os.makedirs(os.path.join(out, target), exist_ok=True)
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data)


def licensed(data_dir, out):
    conf = os.path.join(data_dir, "conformance")
    srcset = json.load(open(os.path.join(conf, "srcset_cases.json")))
    for case in srcset["parse_srcset"] + srcset["select_source"]:
        write(out, "srcset", case["srcset"], "wpt")
    for case in srcset["picture_cases"]:
        for value in re.findall(r'srcset="([^"]*)"', case["html"]):
            write(out, "srcset", value, "wpt-picture")
    robots = json.load(open(os.path.join(conf, "robots_test_cases.json")))
    for case in robots["allowed"] + robots["parse_stats"]:
        # Bodies that are not UTF-8 (a cut byte-order mark) are kept as bytes.
        body = bytes.fromhex(case["robotstxt_hex"]) if case.get("robotstxt_hex") else (case.get("robotstxt") or "").encode()
        # The target asks about the last line as a path too.
        url = case.get("url", "")
        path = re.sub(r"^[a-z]+://[^/]*/?", "", url)
        write(out, "robots", body + (("\n" + path).encode() if path else b""), "google")
    for case in robots["path_params_query"] + robots["escape_pattern"]:
        write(out, "robots", "User-agent: *\nDisallow: " + case["input"] + "\n" + case["input"], "google")


def run_time_only(data_dir, out):
    pages = []
    readability = os.path.join(data_dir, "html", "readability")
    for root, _, files in os.walk(readability):
        pages += [os.path.join(root, f) for f in files if f.endswith(".html")]
    site = os.path.join(data_dir, "sites", "sanctuaries.marinebon.org")
    site_pages = []
    for root, _, files in os.walk(site):
        site_pages += [os.path.join(root, f) for f in files if f.endswith(".html")]
    # Every readability page, and a spread of the mirror's templates.
    for path in pages + sorted(site_pages)[::40]:
        html = open(path, "rb").read().decode("utf-8", "replace")
        write(out, "extract", html, "page")
        for block in re.findall(r'<script[^>]*ld\+json[^>]*>(.*?)</script>', html, re.S | re.I):
            write(out, "jsonld", block, "ld")
        for block in re.findall(r"<style[^>]*>(.*?)</style>", html, re.S | re.I):
            write(out, "css", block, "style")
        for value in re.findall(r'style="([^"]*url\([^"]*)"', html, re.I):
            write(out, "css", value, "inline")
        for value in re.findall(r'srcset="([^"]*)"', html, re.I)[:20]:
            write(out, "srcset", value, "page")
    for root, _, files in os.walk(site):
        for f in files:
            if "sitemap" in f or f == "robots.txt":
                body = open(os.path.join(root, f), "rb").read()
                write(out, "sitemap" if "sitemap" in f else "robots", body, "site")
    captions = os.path.join(data_dir, "captions", "conceptual_captions_val.tsv")
    with open(captions, encoding="utf-8", errors="replace") as f:
        for i, line in enumerate(f):
            if i % 50:
                continue
            alt = line.split("\t", 1)[0]
            write(out, "chat_parser", alt + "\nonly png, not " + alt.split(" ")[-1], "cc")


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in ("licensed", "all"):
        sys.exit(__doc__)
    data_dir, out, which = sys.argv[1:]
    if not os.path.isdir(os.path.join(data_dir, "conformance")):
        sys.exit(f"fuzz_seeds.py: no shared data at {data_dir}")
    licensed(data_dir, out)
    if which == "all":
        run_time_only(data_dir, out)


if __name__ == "__main__":
    main()
