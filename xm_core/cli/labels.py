"""Label commands: labels, addlabel, rmlabel, getlabel, resources (Xen 3.0.4;
the `mgt` and `vif-N` objects of Xen 3.4)."""

from __future__ import annotations

import click

from xm_core.cli.common import handle_errors, paths_of
from xm_core.errors import UsageError

_JSON = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")


def _object_kind(kind: str, command: str) -> str:
    from xm_core.host.update.relabel import vif_index

    if vif_index(kind) is not None:
        return "vif"
    kind = kind.lower()
    if kind not in ("dom", "res", "mgt"):
        # Xen 3.0.4's message (the 3.0.4 commands keep theirs); mgt/vif-N are Xen 3.4's
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
@click.argument("kind", metavar="dom|res|mgt|vif-N")
@click.argument("target", metavar="CONFIG|RESOURCE|DOMAIN")
@click.argument("policy", required=False)
@_JSON
@click.pass_context
@handle_errors
def addlabel(
    ctx: click.Context, label: str, kind: str, target: str, policy: str | None, as_json: bool
) -> None:
    """Label a domain config, a resource, a running domain or its interface.

    dom CONFIG: appends `access_control = ['policy=<P>,label=<L>']` to
    CONFIG (looked up in . then <root>/etc/xen), keeping every other byte.
    res RESOURCE: records the resource (e.g. phy:hda1) in the resource
    label file. POLICY defaults to the active policy; the label must be in
    its compiled .map. Silent on success.
    mgt DOMAIN (Xen 3.4): relabels a running or paused domain, Domain-0
    too; refused, with every reason, unless every resource and connection
    of the domain stays legal and it conflicts with nothing running.
    vif-N DOMAIN (Xen 3.4): labels the domain's N-th network interface
    with a resource label. POLICY, if given, is ACM:<active policy>.
    """
    from xm_core.host.labels import add_domain_label, add_resource_label

    paths = paths_of(ctx)
    what = _object_kind(kind, "add label to")
    if what == "dom":
        add_domain_label(paths, label, target, policy)
    elif what == "res":
        add_resource_label(paths, label, target, policy)
    elif what == "mgt":
        from xm_core.host.update.relabel import relabel_domain
        from xm_core.render.xen34 import lifecycle as render

        render.relabelled(relabel_domain(paths, label, target, policy), as_json)
    else:
        from xm_core.host.update.relabel import label_vif, vif_index
        from xm_core.render import out

        index = vif_index(kind)
        assert index is not None
        label_vif(paths, label, index, target, policy)
        out("Successfully labeled the VIF.")


@click.command()
@click.argument("kind", metavar="dom|res|mgt|vif-N")
@click.argument("target", metavar="CONFIG|RESOURCE|DOMAIN")
@click.pass_context
@handle_errors
def rmlabel(ctx: click.Context, kind: str, target: str) -> None:
    """Remove the label of a domain config, a resource or an interface.

    dom: comments out the config's access_control line(s) with `#`.
    res: removes the resource's entry from the resource label file.
    mgt: refused for a running domain while a policy is enforced (it keeps
    a label). vif-N: removes the label of the domain's N-th interface.
    """
    from xm_core.host.labels import remove_domain_label, remove_resource_label

    paths = paths_of(ctx)
    what = _object_kind(kind, "remove label from")
    if what == "dom":
        remove_domain_label(paths, target)
    elif what == "res":
        remove_resource_label(paths, target)
    elif what == "mgt":
        from xm_core.host.update.relabel import remove_running_label

        remove_running_label(paths, target)
    else:
        from xm_core.host.update.relabel import unlabel_vif, vif_index

        index = vif_index(kind)
        assert index is not None
        unlabel_vif(paths, index, target)


@click.command()
@click.argument("kind", metavar="dom|res|mgt|vif-N")
@click.argument("target", metavar="CONFIG|RESOURCE|DOMAIN")
@_JSON
@click.pass_context
@handle_errors
def getlabel(ctx: click.Context, kind: str, target: str, as_json: bool) -> None:
    """Show the label of a domain config, a resource, a domain or an interface.

    dom/res: policy=<P>,label=<L> (under a versioned policy, Xen 3.4's
    policytype=ACM,policy=<P>,label=<L> and ACM:<P>:<L>). mgt and vif-N
    (Xen 3.4): ACM:<P>:<L>. A resource label removed by a policy update
    reads INV_ACM:<P>:<L>.
    """
    from xm_core.host.labels import get_domain_label, get_resource_label
    from xm_core.render.labels import label_of

    paths = paths_of(ctx)
    what = _object_kind(kind, "get label of")
    if what == "dom":
        label_of(get_domain_label(paths, target), as_json)
    elif what == "res":
        label_of(get_resource_label(paths, target), as_json)
    else:
        from xm_core.host.update import relabel
        from xm_core.render.xen34 import lifecycle as render

        if what == "mgt":
            text = relabel.domain_label(paths, target)
        else:
            index = relabel.vif_index(kind)
            assert index is not None
            text = relabel.vif_label(paths, index, target)
        if as_json:
            from xm_core.render import emit_json

            emit_json({"type": what, "target": target, "label": text})
        else:
            render.label_string(text)


@click.command()
@_JSON
@click.pass_context
@handle_errors
def resources(ctx: click.Context, as_json: bool) -> None:
    """List every labeled resource with its policy and label."""
    from xm_core.host.labels import list_resources
    from xm_core.render.labels import resource_list

    resource_list(list_resources(paths_of(ctx)), as_json)
