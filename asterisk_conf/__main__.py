"""python -m asterisk_conf render --out DIR [--test-dialplan] | wait [--timeout S]"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from asterisk_conf.ready import wait_ready
from asterisk_conf.render import write
from controller.settings import load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asterisk_conf")
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("render", help="render Asterisk's config files into a directory")
    r.add_argument("--out", required=True, type=Path)
    r.add_argument(
        "--test-dialplan",
        action="store_true",
        help="add the test suite's contexts and SIP peers (extensions_test.conf, pjsip_test.conf): the test instance only",
    )
    w = sub.add_parser("wait", help="wait until AMI login and ARI /asterisk/info answer")
    w.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args(argv)
    settings = load()
    if args.cmd == "render":
        for path in write(settings, args.out, test_dialplan=args.test_dialplan):
            print(path)
        return 0
    ok, detail = asyncio.run(wait_ready(settings, args.timeout))
    print(detail, file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
