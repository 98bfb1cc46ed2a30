"""Run `st2mistral-local serve` with bench settings: push (default) or polling only, worker count."""
from __future__ import annotations

import argparse
import sys

import common  # noqa: F401 - import paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--polling", action="store_true", help="[mistral] enable_polling = true")
    parser.add_argument("--workers", type=int, default=8)
    args, rest = parser.parse_known_args()
    from oslo_config import cfg

    from mistral_v2 import config
    from st2mistral_local import cli, host

    config.register_opts(cfg.CONF)
    cfg.CONF.set_override("enable_polling", args.polling, "mistral")
    original = host.HostSettings.__init__

    def settings_init(self, *a, **kw):  # type: ignore[no-untyped-def]
        original(self, *a, **kw)
        self.workers = args.workers

    host.HostSettings.__init__ = settings_init  # type: ignore[method-assign]
    return cli.main(rest)


if __name__ == "__main__":
    sys.exit(main())
