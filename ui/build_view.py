"""Pieces of /build: the layer list with live shapes, code, training, saving for the class."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from explorer import ui_state
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
    train_network,
    training_data,
    training_problem,
    update_params,
)
from explorer.builder.store import Owner
from explorer.zoo import PRESETS
from ui.errors import guarded

SPEC, STATE, VERSION, MESSAGE = "build_spec", "build_state", "build_version", "build_message"
STARTS = {"empty_image": "Empty network, image input", "empty_vector": "Empty network, 4 numbers"}


def spec() -> NetworkSpec:
    if SPEC not in st.session_state:
        _set(from_preset("cnn"), preset_weights("cnn"))
    return st.session_state[SPEC]


def _set(new: NetworkSpec, state: dict | None = None) -> None:
    """A new spec: the widgets of the old one go (a version in their keys), weights only if
    they still fit."""
    st.session_state[SPEC] = new
    st.session_state[VERSION] = st.session_state.get(VERSION, 0) + 1
    if state is not None:
        st.session_state[STATE] = state
    elif st.session_state.get(STATE) is not None:
        try:
            check_state_dict(new, st.session_state[STATE])
        except ValueError:
            st.session_state[STATE] = None


def _edit(change, *args, **kwargs) -> None:
    try:
        _set(change(spec(), *args, **kwargs))
        st.session_state.pop(MESSAGE, None)
    except ValueError as err:
        st.session_state[MESSAGE] = str(err)


def start_from() -> None:
    options = [*STARTS, *convertible_presets()]
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    choice = c1.selectbox("Start from", options, key="build_start",
                          format_func=lambda o: STARTS.get(o) or f"{PRESETS[o].title} (trained)")
    c2.button("Open", on_click=guarded(_open), args=(choice,), key="build_open", width="stretch")


def _open(choice: str) -> None:
    if choice == "empty_image":
        _set(NetworkSpec(name="MyNetwork", input_kind="image", layers=()), {})
    elif choice == "empty_vector":
        _set(NetworkSpec(name="MyNetwork", input_kind="vector", input_features=4, layers=()), {})
    else:
        _set(from_preset(choice), preset_weights(choice))
    st.session_state.pop(MESSAGE, None)


def layer_list() -> None:
    """Every layer with its settings, output shape and parameters; errors at their layer."""
    report = analyse(spec())
    if spec().input_kind == "vector":
        key = f"build_features_{st.session_state.get(VERSION, 0)}"
        st.number_input("Input: how many numbers", 1, 65_536, value=spec().input_features,
                        key=key, on_change=guarded(_features), args=(key,),
                        help="4 trains on the iris flowers, 2 on the two moons")
    else:
        st.caption(f"Input: {shape_text(report.input_shape)}")
    for layer in report.layers:
        _layer_row(layer, depth=0)
    if MESSAGE in st.session_state:
        st.error(st.session_state[MESSAGE])
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    kind = c1.selectbox("Add a layer", list(PALETTE), key="build_add_kind",
                        format_func=lambda k: f"{k}: {PALETTE[k].description}")
    c2.button("Add", on_click=guarded(_append), args=(kind, report.output_shape), key="build_add",
              width="stretch", icon=":material/add:")
    out = shape_text(report.output_shape) if report.ok else "—"
    st.markdown(f"**Total: {report.parameters:,} parameters · output {out}**")


def _features(key: str) -> None:
    _edit(lambda s: NetworkSpec(name=s.name, input_kind="vector",
                                input_features=int(st.session_state[key]), layers=s.layers))


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
        shape.markdown(f"→ {shape_text(layer.output_shape) if layer.output_shape else '?'} · "
                       f"{layer.parameters:,} params")
        b1, b2, b3 = buttons.columns(3, gap="small")
        b1.button("", icon=":material/arrow_upward:", key=f"up_{version}_{tag}", on_click=guarded(_edit),
                  args=(move_layer, path, -1), help="move up")
        b2.button("", icon=":material/arrow_downward:", key=f"down_{version}_{tag}",
                  on_click=guarded(_edit), args=(move_layer, path, 1), help="move down")
        b3.button("", icon=":material/delete:", key=f"del_{version}_{tag}", on_click=guarded(_edit),
                  args=(remove_layer, path), help="remove")
        params = PALETTE[layer.kind].params
        if params:
            current = _layer_params(path)
            cols = st.columns(len(params))
            for col, info in zip(cols, params, strict=True):
                _param_widget(col, info, path, current.get(info.name), f"{version}_{tag}")
        if layer.error:
            st.error(layer.error, icon=":material/error:")
            if layer.fix:
                st.button(f"Apply the fix: {', '.join(f'{k} = {v}' for k, v in layer.fix.items())}",
                          key=f"fix_{version}_{tag}", on_click=guarded(_edit),
                          args=(update_params, path), kwargs=layer.fix)
        if layer.kind == "Residual":
            for child in layer.children:
                _layer_row(child, depth + 1)
            c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
            kind = c1.selectbox("Add inside the block", [k for k in PALETTE if k != "Residual"],
                                key=f"inner_kind_{version}_{tag}")
            c2.button("Add inside", key=f"inner_add_{version}_{tag}", on_click=guarded(_edit),
                      args=(insert_layer, (*path, len(layer.children)),
                            default_layer(kind, layer.input_shape)))


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
        col.checkbox(info.name, value=bool(value), key=key, on_change=guarded(changed), help=info.help)
    elif info.type == "float":
        col.number_input(info.name, min_value=float(info.low), max_value=float(info.high),
                         value=float(value), step=0.05, key=key, on_change=guarded(changed),
                         help=info.help)
    else:  # "int" or "int?" (None: same as kernel_size)
        col.number_input(info.name, min_value=int(info.low), max_value=int(info.high),
                         value=None if value is None else int(value), step=1, key=key,
                         on_change=guarded(changed), help=info.help,
                         placeholder="= kernel" if info.type == "int?" else None)


def code_tab() -> None:
    report = analyse(spec())
    if not spec().layers:
        st.info("Add a layer: the code appears here as you build.")
        return
    if not report.ok:
        st.info("Fix the layer marked in red first: the code is written from a network that "
                "works.")
        return
    code = generate_code(spec())
    st.download_button("Download the code (.py)", code, file_name=f"{spec().name}.py",
                       mime="text/x-python", icon=":material/download:", on_click="ignore")
    st.code(code, language="python", line_numbers=True)


def train_tab() -> None:
    problem = training_problem(spec())
    if problem:
        st.info(problem)
        return
    data = training_data(spec())
    st.caption(data.description)
    c1, c2 = st.columns([1, 3], vertical_alignment="bottom")
    epochs = int(c1.number_input("Epochs", 1, 20, 2, key="build_epochs"))
    if not c2.button("Train", type="primary", key="build_train", icon=":material/play_arrow:"):
        _trained_summary()
        return
    model = build(spec())
    state = st.session_state.get(STATE)
    if state:
        model.load_state_dict(state)
    progress = st.progress(0.0, text="Training...")
    chart = st.empty()
    history: list[dict] = []
    st.caption("Press any button (or Stop) to stop training early.")
    st.button("Stop", key="build_stop")

    def on_batch(b) -> None:
        done = (b.epoch * b.batches + b.batch + 1) / (epochs * b.batches)
        progress.progress(done, text=f"epoch {b.epoch + 1}/{epochs} · loss {b.loss:.3f}")

    def on_epoch(e) -> None:
        history.append({"epoch": e.epoch + 1, "train loss": e.train_loss,
                        "held-out loss": e.test_loss,
                        "held-out accuracy": e.test_accuracy or 0.0})
        chart.plotly_chart(_curve(history), key=f"curve_{len(history)}")

    config = _config(epochs)
    result = train_network(spec(), model, config, on_batch_end=on_batch, on_epoch_end=on_epoch)
    st.session_state[STATE] = {k: v.detach().clone() for k, v in model.state_dict().items()}
    st.session_state["build_result"] = (result.test_accuracy, history)
    _trained_summary()


def _config(epochs: int):
    from explorer.builder import default_config

    config = default_config(spec())
    config.epochs = epochs
    return config


def _curve(history: list[dict]) -> go.Figure:
    frame = pd.DataFrame(history)
    fig = go.Figure()
    for column in ("train loss", "held-out loss", "held-out accuracy"):
        fig.add_trace(go.Scatter(x=frame["epoch"], y=frame[column], mode="lines+markers",
                                 name=column))
    fig.update_layout(height=300, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      xaxis={"title": "epoch", "dtick": 1})
    return fig


def _trained_summary() -> None:
    result = st.session_state.get("build_result")
    if result is not None:
        accuracy, history = result
        if accuracy is not None:
            st.metric("Held-out accuracy", f"{accuracy:.1%}")
        if history:
            st.plotly_chart(_curve(history), key="curve_done")
    if st.session_state.get(STATE) and spec().layers and analyse(spec()).ok:
        st.button("Use this network on every page", key="build_use", on_click=guarded(_use),
                  icon=":material/rocket_launch:")
    used = st.session_state.get("build_used")
    if used:
        st.success(f"“{ui_state.preset_of(used).title}” is now chosen in the model picker of "
                   "Draw, Forward pass and Backward pass (for you only).")


def _use() -> None:
    name = ui_state.add_session_network(spec(), st.session_state[STATE])
    st.session_state[ui_state.Keys.model] = name
    st.session_state["build_used"] = name


def share_tab(store: NetworkStore, owner: Owner) -> None:
    """Save for the class (a shared store, each network its saver's), and export/import."""
    current = spec()
    name = st.text_input("Name", value=current.name, key="build_name", max_chars=MAX_NAME_CHARS,
                         help=f"Names may use {NAME_RULE}.")
    overwrite = st.checkbox("Replace my saved network of that name", key="build_overwrite",
                            help="Only your own: a network belongs to whoever saved it.")
    if st.button("Save for the class", type="primary", key="build_save", icon=":material/save:"):
        try:
            state = st.session_state.get(STATE) or build(current).state_dict()
            renamed = NetworkSpec(name=name, input_kind=current.input_kind,
                                  input_features=current.input_features, layers=current.layers)
            saved = store.save(name, renamed, state, overwrite=overwrite, owner=owner)
            st.success(f"Saved “{saved.name}” ({saved.parameter_count:,} parameters).")
        except ValueError as err:
            st.error(str(err))
    saved = store.list()
    if saved:
        table = pd.DataFrame([{"name": s.name, "saved": s.saved_at.strftime("%Y-%m-%d %H:%M"),
                               "parameters": s.parameter_count, "whose": owner.whose(s)}
                              for s in saved])
        st.dataframe(table, hide_index=True, width="stretch")
        c1, c2, c3 = st.columns([3, 1, 1], vertical_alignment="bottom")
        pick = c1.selectbox("Saved networks", [s.name for s in saved], key="build_pick")
        entry = next((s for s in saved if s.name == pick), None)
        if entry is not None and owner.may_delete(entry):
            c3.button("Remove", key="build_remove", width="stretch", icon=":material/delete:",
                      on_click=guarded(store.delete), args=(pick,), kwargs={"owner": owner})
        if c2.button("Load", key="build_load", width="stretch"):
            try:
                loaded, state = store.load(pick)
            except ValueError as err:  # a damaged entry, or one removed meanwhile
                st.error(str(err))
            else:
                _set(loaded, state)
                st.rerun()
    st.markdown("**Files**")
    c1, c2 = st.columns(2)
    c1.download_button("Spec (.json)", export_spec_json(current), file_name=f"{current.name}.json",
                       mime="application/json", on_click="ignore", key="build_json_out")
    state = st.session_state.get(STATE)
    if state:
        c2.download_button("Weights (.pt)", lambda: export_weights(state),
                           file_name=f"{current.name}.pt", on_click="ignore",
                           key="build_pt_out")
    upload = st.file_uploader("Import a spec (.json) and, optionally, its weights (.pt)",
                              type=["json", "pt"], accept_multiple_files=True,
                              key="build_import")
    if upload and st.button("Import", key="build_import_go"):
        _import(upload)


def _import(files) -> None:
    specs = [f for f in files if f.name.endswith(".json")]
    weights = [f for f in files if f.name.endswith(".pt")]
    try:
        new = import_spec_json(specs[0].getvalue()) if specs else spec()
        state = import_weights(new, weights[0].getvalue()) if weights else None
    except ValueError as err:
        st.error(str(err))
        return
    _set(new, state)
    st.rerun()
