"""Label commands: labels, addlabel, rmlabel, getlabel, resources (Xen 3.0.4)."""

from __future__ import annotations

import click

from xm_core.cli.common import handle_errors, paths_of
from xm_core.errors import UsageError

_JSON = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")


def _object_kind(kind: str, command: str) -> str:
    kind = kind.lower()
    if kind not in ("dom", "res"):
        raise UsageError(f'Need to specify either "dom" or "res" as object to {command}.')
    return kind


@click.command(context_settings={"ignore_unknown_options": False})
@click.argument("args", nargs=-1, metavar="[POLICY] [type=dom|res|any]")
@_JSON
@click.pass_context
@handle_errors
def labels(ctx: click.Context, args: tuple[str, ...], as_json: bool) -> None:
    """List the labels of a policy, sorted, one a line.

    POLICY defaults to the active policy; type defaults to dom (`any`
    includes __NULL_LABEL__). The policy must be compiled (xm makepolicy).
    """
    from xm_core.host.labels import list_labels, parse_labels_args
    from xm_core.render.labels import label_list

    policy, kind = parse_labels_args(args)
    label_list(list_labels(paths_of(ctx), policy, kind), as_json)


@click.command()
@click.argument("label")
@click.argument("kind", metavar="dom|res")
@click.argument("target", metavar="CONFIG|RESOURCE")
@click.argument("policy", required=False)
@click.pass_context
@handle_errors
def addlabel(ctx: click.Context, label: str, kind: str, target: str, policy: str | None) -> None:
    """Label a domain config (dom CONFIG) or a resource (res RESOURCE).

    dom: appends `access_control = ['policy=<P>,label=<L>']` to CONFIG
    (looked up in . then <root>/etc/xen), keeping every other byte.
    res: records the resource (e.g. phy:hda1) in the resource label file.
    POLICY defaults to the active policy; the label must be in its
    compiled .map. Silent on success.
    """
    from xm_core.host.labels import add_domain_label, add_resource_label

    paths = paths_of(ctx)
    if _object_kind(kind, "add label to") == "dom":
        add_domain_label(paths, label, target, policy)
    else:
        add_resource_label(paths, label, target, policy)


@click.command()
@click.argument("kind", metavar="dom|res")
@click.argument("target", metavar="CONFIG|RESOURCE")
@click.pass_context
@handle_errors
def rmlabel(ctx: click.Context, kind: str, target: str) -> None:
    """Remove the label of a domain config or a resource.

    dom: comments out the config's access_control line(s) with `#`.
    res: removes the resource's entry from the resource label file.
    """
    from xm_core.host.labels import remove_domain_label, remove_resource_label

    paths = paths_of(ctx)
    if _object_kind(kind, "remove label from") == "dom":
        remove_domain_label(paths, target)
    else:
        remove_resource_label(paths, target)


@click.command()
@click.argument("kind", metavar="dom|res")
@click.argument("target", metavar="CONFIG|RESOURCE")
@_JSON
@click.pass_context
@handle_errors
def getlabel(ctx: click.Context, kind: str, target: str, as_json: bool) -> None:
    """Show the label of a domain config or a resource: policy=<P>,label=<L>."""
    from xm_core.host.labels import get_domain_label, get_resource_label
    from xm_core.render.labels import label_of

    paths = paths_of(ctx)
    if _object_kind(kind, "get label of") == "dom":
        label_of(get_domain_label(paths, target), as_json)
    else:
        label_of(get_resource_label(paths, target), as_json)


@click.command()
@_JSON
@click.pass_context
@handle_errors
def resources(ctx: click.Context, as_json: bool) -> None:
    """List every labeled resource with its policy and label."""
    from xm_core.host.labels import list_resources
    from xm_core.render.labels import resource_list

    resource_list(list_resources(paths_of(ctx)), as_json)
