"""Pieces of /build: the layer list with live shapes, code, training, saving for the class."""

from __future__ import annotations

from urllib.parse import urlsplit

import pandas as pd
import streamlit as st

from explorer import links
from explorer.builder import (
    MAX_NAME_CHARS,
    NAME_RULE,
    PALETTE,
    LayerReport,
    NetworkSpec,
    NetworkStore,
    analyse,
    append_layer,
    build,
    check_state_dict,
    convertible_presets,
    default_layer,
    export_spec_json,
    export_weights,
    from_preset,
    generate_code,
    import_spec_json,
    import_weights,
    insert_layer,
    move_layer,
    preset_weights,
    remove_layer,
    shape_text,
    update_params,
)
from explorer.builder.store import Owner
from explorer.zoo import PRESETS
from ui import build_train
from ui import state as ui_state
from ui.errors import guarded

SPEC, STATE, VERSION, MESSAGE = "build_spec", "build_state", "build_version", "build_message"
STARTS = {"empty_image": "Empty network, image input", "empty_vector": "Empty network, 4 numbers"}
ORIGIN = "build_origin"  # the start the canvas was opened from (None: loaded or imported)
PARAMS_PER_ROW = 3
IMPORTS = "build_imports"  # bumped after an import, so the uploader starts empty
NOTICE = "build_notice"  # what the last import or save did, shown after the rerun


def spec() -> NetworkSpec:
    if SPEC not in st.session_state:
        _set(from_preset("cnn"), preset_weights("cnn"))
        st.session_state[ORIGIN] = "cnn"
    return st.session_state[SPEC]


def _set(new: NetworkSpec, state: dict | None = None) -> None:
    """A new spec: the widgets of the old one go (a version in their keys), weights only if
    they still fit."""
    st.session_state[SPEC] = new
    st.session_state[VERSION] = st.session_state.get(VERSION, 0) + 1
    if state is not None:
        st.session_state[STATE] = state
        build_train.forget_history()
    elif st.session_state.get(STATE) is not None:
        try:
            check_state_dict(new, st.session_state[STATE])
        except ValueError:
            st.session_state[STATE] = None
            build_train.forget_history()


def _edit(change, *args, **kwargs) -> None:
    try:
        _set(change(spec(), *args, **kwargs))
        st.session_state.pop(MESSAGE, None)
    except ValueError as err:
        st.session_state[MESSAGE] = str(err)


def start_from() -> None:
    """Where to start; it names what is on the canvas until another start is chosen."""
    options = [*STARTS, *convertible_presets()]
    spec()
    origin = st.session_state.get(ORIGIN)
    if st.session_state.pop("build_start_sync", False) or "build_start" not in st.session_state:
        st.session_state["build_start"] = origin  # None: the placeholder
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    choice = c1.selectbox(
        "Start from",
        options,
        key="build_start",
        index=None,
        placeholder=f"“{spec().name}”, loaded or imported",
        format_func=lambda o: STARTS.get(o) or f"{PRESETS[o].title} (trained)",
    )
    c2.button(
        "Open",
        on_click=guarded(_open),
        args=(choice,),
        key="build_open",
        width="stretch",
        disabled=choice is None,
    )
    if choice is not None and choice != origin:
        c1.caption("Press Open to replace the network below.")


def _open(choice: str | None) -> None:
    if choice is None:
        return
    if choice == "empty_image":
        _set(NetworkSpec(name="MyNetwork", input_kind="image", layers=()), {})
    elif choice == "empty_vector":
        _set(NetworkSpec(name="MyNetwork", input_kind="vector", input_features=4, layers=()), {})
    else:
        _set(from_preset(choice), preset_weights(choice))
    st.session_state[ORIGIN] = choice
    st.session_state.pop(MESSAGE, None)


def _loaded(new: NetworkSpec, state: dict | None) -> None:
    """A network from the class store or a file: "Start from" no longer names its origin."""
    _set(new, state)
    st.session_state[ORIGIN] = None
    st.session_state["build_start_sync"] = True


def layer_list() -> None:
    """Every layer with its settings, output shape and parameters; errors at their layer."""
    report = analyse(spec())
    if spec().input_kind == "vector":
        key = f"build_features_{st.session_state.get(VERSION, 0)}"
        st.number_input(
            "Input: how many numbers",
            1,
            65_536,
            value=spec().input_features,
            key=key,
            on_change=guarded(_features),
            args=(key,),
            help="4 trains on the iris flowers, 2 on the two moons",
        )
    else:
        st.caption(f"Input: {shape_text(report.input_shape)}")
    for layer in report.layers:
        _layer_row(layer, depth=0)
    if MESSAGE in st.session_state:
        st.error(st.session_state[MESSAGE])
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    kind = c1.selectbox(
        "Add a layer",
        list(PALETTE),
        key="build_add_kind",
        format_func=lambda k: f"{k}: {PALETTE[k].description}",
    )
    c2.button(
        "Add",
        on_click=guarded(_append),
        args=(kind, report.output_shape),
        key="build_add",
        width="stretch",
        icon=":material/add:",
    )
    out = shape_text(report.output_shape) if report.ok else "—"
    st.markdown(f"**Total: {report.parameters:,} parameters · output {out}**")


def _features(key: str) -> None:
    _edit(
        lambda s: NetworkSpec(
            name=s.name,
            input_kind="vector",
            input_features=int(st.session_state[key]),
            layers=s.layers,
        )
    )


def _append(kind: str, shape) -> None:
    _edit(append_layer, default_layer(kind, shape))


def _layer_row(layer: LayerReport, depth: int) -> None:
    version = st.session_state.get(VERSION, 0)
    path = layer.path
    tag = "_".join(map(str, path))
    with st.container(border=True):
        head, shape, buttons = st.columns([4, 3, 3], vertical_alignment="center")
        indent = "&nbsp;" * 6 * depth
        head.markdown(f"{indent}**{layer.name}** · {layer.kind}")
        shape.markdown(
            f"→ {shape_text(layer.output_shape) if layer.output_shape else '?'} · "
            f"{layer.parameters:,} params"
        )
        b1, b2, b3 = buttons.columns(3, gap="small")
        b1.button(
            "",
            icon=":material/arrow_upward:",
            key=f"up_{version}_{tag}",
            on_click=guarded(_edit),
            args=(move_layer, path, -1),
            help="move up",
        )
        b2.button(
            "",
            icon=":material/arrow_downward:",
            key=f"down_{version}_{tag}",
            on_click=guarded(_edit),
            args=(move_layer, path, 1),
            help="move down",
        )
        b3.button(
            "",
            icon=":material/delete:",
            key=f"del_{version}_{tag}",
            on_click=guarded(_edit),
            args=(remove_layer, path),
            help="remove",
        )
        params = PALETTE[layer.kind].params
        if params:
            current = _layer_params(path)
            for row in range(0, len(params), PARAMS_PER_ROW):  # room for "out_channels"
                cols = st.columns(PARAMS_PER_ROW)
                for col, info in zip(cols, params[row : row + PARAMS_PER_ROW], strict=False):
                    _param_widget(col, info, path, current.get(info.name), f"{version}_{tag}")
        if layer.error:
            st.error(layer.error, icon=":material/error:")
            if layer.fix:
                st.button(
                    f"Apply the fix: {', '.join(f'{k} = {v}' for k, v in layer.fix.items())}",
                    key=f"fix_{version}_{tag}",
                    on_click=guarded(_edit),
                    args=(update_params, path),
                    kwargs=layer.fix,
                )
        if layer.kind == "Residual":
            for child in layer.children:
                _layer_row(child, depth + 1)
            c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
            kind = c1.selectbox(
                "Add inside the block",
                [k for k in PALETTE if k != "Residual"],
                key=f"inner_kind_{version}_{tag}",
            )
            c2.button(
                "Add inside",
                key=f"inner_add_{version}_{tag}",
                on_click=guarded(_edit),
                args=(
                    insert_layer,
                    (*path, len(layer.children)),
                    default_layer(kind, layer.input_shape),
                ),
            )


def _layer_params(path) -> dict:
    layer = spec().layers[path[0]]
    for i in path[1:]:
        layer = layer.children[i]
    return dict(layer.params)


def _param_widget(col, info, path, value, tag: str) -> None:
    key = f"param_{tag}_{info.name}"

    def changed() -> None:
        _edit(update_params, path, **{info.name: st.session_state[key]})

    if info.type == "bool":
        col.checkbox(
            info.name, value=bool(value), key=key, on_change=guarded(changed), help=info.help
        )
    elif info.type == "float":
        col.number_input(
            info.name,
            min_value=float(info.low),
            max_value=float(info.high),
            value=float(value),
            step=0.05,
            key=key,
            on_change=guarded(changed),
            help=info.help,
        )
    else:  # "int" or "int?" (None: same as kernel_size)
        col.number_input(
            info.name,
            min_value=int(info.low),
            max_value=int(info.high),
            value=None if value is None else int(value),
            step=1,
            key=key,
            on_change=guarded(changed),
            help=info.help,
            placeholder="= kernel" if info.type == "int?" else None,
        )


def code_tab() -> None:
    report = analyse(spec())
    if not spec().layers:
        st.info("Add a layer: the code appears here as you build.")
        return
    if not report.ok:
        st.info("Fix the layer marked in red first: the code is written from a network that works.")
        return
    code = generate_code(spec())
    st.download_button(
        "Download the code (.py)",
        code,
        file_name=f"{spec().name}.py",
        mime="text/x-python",
        icon=":material/download:",
        on_click="ignore",
    )
    st.code(code, language="python", line_numbers=True, wrap_lines=True)


def train_tab() -> None:
    build_train.train_tab(spec, STATE)
    if st.session_state.get(build_train.JOB) is not None:
        return
    if st.session_state.get(STATE) and spec().layers and analyse(spec()).ok:
        st.button(
            "Use this network on every page",
            key="build_use",
            on_click=guarded(_use),
            icon=":material/rocket_launch:",
        )
    used = st.session_state.get("build_used")
    if used:
        st.success(
            f"“{ui_state.preset_of(used).title}” is now chosen in the model picker of "
            "Draw, Forward pass and Backward pass (for you only)."
        )


def _use() -> None:
    name = ui_state.add_session_network(spec(), st.session_state[STATE])
    st.session_state[ui_state.Keys.model] = name
    st.session_state["build_used"] = name


def share_tab(store: NetworkStore, owner: Owner) -> None:
    """Save for the class (a shared store, each network its saver's), and export/import."""
    if NOTICE in st.session_state:
        st.success(st.session_state.pop(NOTICE))
    current = spec()
    name = st.text_input(
        "Name",
        value=current.name,
        key="build_name",
        max_chars=MAX_NAME_CHARS,
        help=f"Names may use {NAME_RULE}.",
    )
    overwrite = st.checkbox(
        "Replace my saved network of that name",
        key="build_overwrite",
        help="Only your own: a network belongs to whoever saved it.",
    )
    if st.button("Save for the class", type="primary", key="build_save", icon=":material/save:"):
        try:
            state = st.session_state.get(STATE) or build(current).state_dict()
            renamed = NetworkSpec(
                name=name,
                input_kind=current.input_kind,
                input_features=current.input_features,
                layers=current.layers,
            )
            saved = store.save(name, renamed, state, overwrite=overwrite, owner=owner)
            st.session_state[SPEC] = current = renamed  # same layers: the widgets stay
            st.session_state["build_saved"] = saved.name
            st.success(f"Saved “{saved.name}” ({saved.parameter_count:,} parameters).")
        except ValueError as err:
            st.error(str(err))
    if st.session_state.get("build_saved"):
        _student_link(st.session_state["build_saved"])
    saved = store.list()
    if saved:
        table = pd.DataFrame(
            [
                {
                    "name": s.name,
                    "saved": s.saved_at.strftime("%Y-%m-%d %H:%M"),
                    "parameters": s.parameter_count,
                    "whose": owner.whose(s),
                }
                for s in saved
            ]
        )
        st.dataframe(table, hide_index=True, width="stretch")
        c1, c2, c3 = st.columns([3, 1, 1], vertical_alignment="bottom")
        pick = c1.selectbox("Saved networks", [s.name for s in saved], key="build_pick")
        entry = next((s for s in saved if s.name == pick), None)
        if entry is not None and owner.may_delete(entry):
            c3.button(
                "Remove",
                key="build_remove",
                width="stretch",
                icon=":material/delete:",
                on_click=guarded(store.delete),
                args=(pick,),
                kwargs={"owner": owner},
            )
        if c2.button("Load", key="build_load", width="stretch"):
            try:
                loaded, state = store.load(pick)
            except ValueError as err:  # a damaged entry, or one removed meanwhile
                st.error(str(err))
            else:
                _loaded(loaded, state)
                st.rerun()
    st.markdown("**Files**")
    c1, c2 = st.columns(2)
    c1.download_button(
        "Spec (.json)",
        export_spec_json(current),
        file_name=f"{name}.json",
        mime="application/json",
        on_click="ignore",
        key="build_json_out",
    )
    state = st.session_state.get(STATE)
    if state:
        c2.download_button(
            "Weights (.pt)",
            lambda: export_weights(state),
            file_name=f"{name}.pt",
            on_click="ignore",
            key="build_pt_out",
        )
    upload = st.file_uploader(
        "Import a spec (.json) and, optionally, its weights (.pt)",
        type=["json", "pt"],
        accept_multiple_files=True,
        key=f"build_import_{st.session_state.get(IMPORTS, 0)}",
    )
    if upload and st.button("Import", key="build_import_go"):
        _import(upload)


def _student_link(name: str) -> None:
    """The address students open to get the saved network (copy button on the code block)."""
    url = urlsplit(st.context.url or "http://localhost:8501/")
    link = links.share_url(
        f"{url.scheme}://{url.netloc}",
        "forward",
        {**links.DEFAULTS, "model": f"{links.SAVED_PREFIX}{name}"},
    )
    st.markdown(f"**Give your students this link** (it opens “{name}” on Forward pass):")
    st.code(link, language=None, wrap_lines=True)


def _import(files) -> None:
    """The newest .json (and .pt) dropped: earlier files in the list are older drops."""
    specs = [f for f in files if f.name.endswith(".json")]
    weights = [f for f in files if f.name.endswith(".pt")]
    try:
        new = import_spec_json(specs[-1].getvalue()) if specs else spec()
        state = import_weights(new, weights[-1].getvalue()) if weights else None
    except ValueError as err:
        st.error(str(err))
        return
    _loaded(new, state)
    what = (
        [f"“{new.name}” from {specs[-1].name}: {len(new.layers)} layers"]
        if specs
        else [f"weights for “{new.name}”"]
    )
    if weights:
        what.append(
            f"with the weights from {weights[-1].name}" if specs else f"from {weights[-1].name}"
        )
    elif specs:
        what.append("without weights (train it, or import its .pt too)")
    st.session_state[NOTICE] = "Imported " + " ".join(what) + "."
    st.session_state[IMPORTS] = st.session_state.get(IMPORTS, 0) + 1
    st.rerun()
