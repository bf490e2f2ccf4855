"""What every hpcq daemon does between parsing its arguments and serving: set up logging,
load the config, check that its section names a certificate, run until stopped. Every
failure is one line on stderr naming the file and key (or what the admin must fix),
and exit status 1."""
from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from hpcq import config as configuration
from hpcq import logs, pki, private_files
from hpcq.gcpause import LongLivedFrozen


class CannotStart(Exception):
    """Raised by a daemon's serve() for what the admin must fix before it can start
    (a store it cannot open…): the message is the one line printed."""


def run(prog: str, args: argparse.Namespace, section: str,
        serve: Callable[[configuration.Config], Coroutine[Any, Any, None]],
        overrides: Callable[[configuration.Config], None] = lambda config: None) -> int:
    """Serve `section` ("ctld", "noded", "agent") of the config named by args.config;
    `overrides` applies the command line to the loaded config first."""
    try:
        logs.setup_from(args)
        config = configuration.load(args.config)
    except (configuration.ConfigError, private_files.PrivateFileError) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
    overrides(config)
    settings = getattr(config, section)
    missing = [k for k in ("ca", "cert", "key") if not getattr(settings, k)]
    if missing:
        print(f"{prog}: {config.path or 'config'}: [{section}] {', '.join(missing)} not set", file=sys.stderr)
        return 1
    try:
        asyncio.run(_serving(serve, config))
    except (pki.PkiError, private_files.PrivateFileError, CannotStart) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
    return 0


async def _serving(serve: Callable[[configuration.Config], Coroutine[Any, Any, None]],
                   config: configuration.Config) -> None:
    frozen = LongLivedFrozen(asyncio.get_running_loop())   # short collector pauses while serving
    try:
        await serve(config)
    finally:
        frozen.close()
