"""`loopml.yaml` at the workspace root: the project's declarative configuration.

The file sits next to `.loopml/` (in `WorkspaceConfig.root`). Each section is parsed by its own
function and validated strictly; top-level keys this version does not know are ignored, so the
sections that other parts of loopml read (`pipelines:`, `deployments:`) do not break the ones
parsed here; `policies:` (continuous training) is parsed by `loopml.core.policies`. Parsing is
pure: the only I/O is reading the file (and, for policies, the pipeline files they name).

    config = load_project_config(workspace.config.root)   # ProjectConfig(); empty if no file
    config.alerts, config.webhooks
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loopml.core.alerting import AlertRule, Webhook, parse_alerts, parse_webhooks
from loopml.core.config import PROJECT_FILE
from loopml.core.config_fields import Field, Lines, ProjectConfigError, load_yaml
from loopml.core.entities import FrozenDict
from loopml.core.policies import Policy, parse_policies
from loopml.core.retention import parse_deployment_retention

__all__ = [
    "PROJECT_FILE",
    "ProjectConfig",
    "ProjectConfigError",
    "load_project_config",
    "parse_project_config",
    "project_file",
]


@dataclasses.dataclass(frozen=True, slots=True)
class ProjectConfig:
    webhooks: FrozenDict = dataclasses.field(default_factory=FrozenDict)  # name -> Webhook
    alerts: tuple[AlertRule, ...] = ()
    source: Path | None = None  # the file it came from, if any
    policies: FrozenDict = dataclasses.field(default_factory=FrozenDict)  # deployment -> Policy
    # deployment -> seconds its predictions are kept (deployments.NAME.retention)
    retention: FrozenDict = dataclasses.field(default_factory=FrozenDict)

    def webhook(self, name: str) -> Webhook:
        return self.webhooks[name]  # type: ignore[no-any-return]

    def policy(self, deployment: str) -> Policy:
        return self.policies[deployment]  # type: ignore[no-any-return]


def project_file(root: Path | None) -> Path | None:
    """The `loopml.yaml` of the workspace at `root`, if there is one."""
    if root is None:
        return None
    path = root / PROJECT_FILE
    return path if path.is_file() else None


def load_project_config(root: Path | None) -> ProjectConfig:
    """Read and validate `loopml.yaml` in `root`; an empty configuration when it is absent."""
    path = project_file(root)
    if path is None:
        return ProjectConfig()
    import yaml

    try:
        data, lines = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ProjectConfigError(f"{path} is not valid YAML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProjectConfigError(f"{path} cannot be read: {exc}") from None
    return parse_project_config(data, path, lines)


def parse_project_config(
    data: Any, source: Path | str = PROJECT_FILE, lines: Lines | None = None
) -> ProjectConfig:
    """Validate the parsed YAML document `data`; errors name `source`, the key and the problem."""
    source_path = Path(source)
    if data is None:
        return ProjectConfig(source=source_path)
    if not isinstance(data, Mapping):
        raise ProjectConfigError(
            f"{source}: the document must be a mapping of sections (webhooks:, alerts:, ...), "
            f"got {type(data).__name__}"
        )
    root = Field(source_path, "", data, None, lines or FrozenDict())
    webhooks = parse_webhooks(root.child("webhooks"))
    alerts = parse_alerts(root.child("alerts"), webhooks)
    policies = parse_policies(root.child("policies"), webhooks)
    retention = parse_deployment_retention(root.child("deployments"))
    return ProjectConfig(FrozenDict(webhooks), alerts, source_path, policies, FrozenDict(retention))
