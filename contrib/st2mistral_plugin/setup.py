"""st2mistral-plugin: the Mistral-side half of st2-mistral (st2.action, st2 publisher, st2kv, with-items fix)."""
from setuptools import setup

# st2mistral's expression functions (YAQL and Jinja), by module of st2mistral_plugin.expressions.
EXPRESSION_FUNCTIONS = {
    "data": ["from_json_string", "from_yaml_string", "to_complex", "to_json_string", "to_yaml_string",
             "json_escape", "jsonpath_query", "use_none"],
    "regex": ["regex_match", "regex_replace", "regex_search", "regex_substring"],
    "time": ["to_human_time_from_seconds"],
    "version": ["version_compare", "version_more_than", "version_less_than", "version_equal",
                "version_match", "version_bump_major", "version_bump_minor", "version_bump_patch",
                "version_strip_patch"],
}

setup(
    name="st2mistral-plugin",
    version="0.1.0",
    description="StackStorm integration plugin for OpenStack Mistral 23 (installed into Mistral's venv)",
    license="Apache License (2.0)",
    python_requires=">=3.8",
    packages=["st2mistral_plugin", "st2mistral_plugin.expressions"],
    zip_safe=False,
    # Mistral itself brings oslo.config, oslo.log, mistral-lib, requests, tenacity and PyYAML.
    # The runner package `mistral_v2` (distribution st2-mistral, repo root) must be installed
    # into the same venv: `pip install --no-deps <repo root>`.
    # semver and jsonpath-ng (the maintained jsonpath-rw) back the version and jsonpath functions.
    install_requires=["requests>=2.25.1", "tenacity>=6.0.0", "PyYAML>=5.4", "semver>=3.0.0",
                      "jsonpath-ng>=1.5.0"],
    entry_points={
        "mistral.actions": ["st2.action = st2mistral_plugin.action:St2Action"],
        "mistral.auth": ["st2 = st2mistral_plugin.auth:St2AuthHandler"],
        "mistral.notification.publishers": ["st2 = st2mistral_plugin.publisher:St2Publisher"],
        "mistral.expression.functions": [
            "st2kv = st2mistral_plugin.functions:st2kv_",
        ] + ["%s = st2mistral_plugin.expressions.%s:%s" % (name, module, name)
             for module, names in EXPRESSION_FUNCTIONS.items() for name in names],
        "oslo.config.opts": ["st2mistral_plugin = st2mistral_plugin.config:list_opts"],
    },
)
