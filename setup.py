"""st2-mistral: the mistral-v2 StackStorm runner, its local host, CLI additions and Mistral tools."""
import os

from setuptools import setup

with open("requirements.txt") as fh:
    RUNTIME = [ln.strip() for ln in fh if ln.strip() and not ln.startswith("#")]

# import name -> source dir. A package whose directory is absent (e.g. a checkout of only part of
# the tree) is left out instead of failing the whole install.
PACKAGE_DIRS = {
    "mistral_v2": "runners/mistral_v2",
    "st2mistral_local": "contrib/st2mistral_local",
    "st2mistral_server": "contrib/st2mistral_server",
    "st2mistral_sync": "contrib/st2mistral_sync",
    "st2client_ext": "st2client_ext",
    "st2mistral_compat": "contrib/st2mistral_compat",
}
PACKAGE_DIRS = {name: path for name, path in PACKAGE_DIRS.items() if os.path.isdir(path)}

setup(
    name="st2-mistral",
    version="0.1.0",
    description="StackStorm runner (mistral-v2) that drives OpenStack Mistral workflows",
    license="Apache License (2.0)",
    python_requires=">=3.8",
    package_dir=PACKAGE_DIRS,
    packages=sorted(PACKAGE_DIRS),
    package_data={
        "mistral_v2": ["runner.yaml"],
        "st2mistral_server": ["launcher.py"],
        "st2mistral_sync": ["logging.conf"],
    },
    include_package_data=True,
    zip_safe=False,
    install_requires=RUNTIME,
    extras_require={
        # The local StackStorm-compatible host (not needed inside a real StackStorm install).
        "local": ["Flask>=2.2", "cryptography>=3.4"],
        # CLI additions on top of the stock st2 client.
        "cli": ["st2client>=3.8"],
        # Test runner and the linters scripts/test runs first (settings in pyproject.toml);
        # semver/jsonpath-ng: the Mistral plugin's expression functions, unit-tested in this venv.
        "test": ["pytest>=7", "pytest-timeout>=2.1", "ruff>=0.5", "mypy>=1.10", "types-PyYAML",
                 "types-requests", "semver>=3.0.0", "jsonpath-ng>=1.5.0"],
    },
    entry_points={
        "st2common.runners.runner": ["mistral-v2 = mistral_v2.mistral_v2"],
        "console_scripts": [
            "st2mistral-local = st2mistral_local.entry:main",
            "st2mistral-server = st2mistral_server.cli:main",
            "st2-mistral = st2client_ext.shell:main",
            "st2mistral-sync = st2mistral_sync.service:main",
            "st2-mistral-compat = st2mistral_compat.cli:main",
        ],
    },
)
