"""Example mlstack plugins, registered when mlstack loads the entry point (this module).

Each plugin is registered with :func:`mlstack.plugins.register` under its kind; mlstack
records ``package mlstack-plugin-example <version>`` as where it came from.
"""

from mlstack_plugin_example import model, notifier, source, task

__all__ = ["model", "notifier", "source", "task"]
