"""The `st2mistral-local` command: says which extra to install when the host's libraries are missing."""
from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import List, Optional

# import name -> distribution of the `[local]` extra (setup.py) the host needs.
HOST_LIBRARIES = {"flask": "Flask", "cryptography": "cryptography"}
INSTALL_HINT = "pip install 'st2-mistral[local]'"


def missing_libraries() -> List[str]:
    """Distributions of the `[local]` extra that are not installed."""
    return [dist for module, dist in HOST_LIBRARIES.items() if importlib.util.find_spec(module) is None]


def main(argv: Optional[List[str]] = None) -> int:
    """Console script: the host's CLI (st2mistral_local.cli) once its libraries are there."""
    lacking = missing_libraries()
    if lacking:
        sys.stderr.write("st2mistral-local: the local host needs %s, not installed here. Install the "
                         "[local] extra: %s\n" % (" and ".join(lacking), INSTALL_HINT))
        return 2
    # Imported only now: importing it without the [local] extra would fail (ModuleNotFoundError).
    cli = importlib.import_module("st2mistral_local.cli")
    return int(cli.main(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
