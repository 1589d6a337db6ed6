"""The network builder: layer specs -> shapes, an ``nn.Module``, PyTorch code, a shared store.

Data flow: ``NetworkSpec -> analyse (shapes, errors) -> build / generate_code -> train_network
-> NetworkStore.save``. Everything here is importable and testable without Streamlit.

    >>> spec = from_preset("cnn")
    >>> spec = update_params(spec, (7,), in_features=100)   # break it
    >>> analyse(spec).error.error
    'Linear expects 3136 input features here (64×7×7 after Flatten) but in_features is 100: ...'
"""

from __future__ import annotations

from explorer.builder.build import INIT_SEED, Network, Residual, build, check_buildable
from explorer.builder.codegen import CLASS_NAME, compile_network, generate_code
from explorer.builder.edit import (
    append_layer,
    default_layer,
    get_layer,
    insert_layer,
    move_layer,
    remove_layer,
    replace_layer,
    update_params,
)
from explorer.builder.fit import (
    MNIST_DESCRIPTION,
    TrainingData,
    default_config,
    train_network,
    training_data,
    training_problem,
)
from explorer.builder.palette import (
    MAX_ACTIVATIONS,
    MAX_DEPTH,
    MAX_LAYERS,
    MAX_MULTIPLY_ADDS,
    MAX_NAME_CHARS,
    MAX_PARAMETERS,
    PALETTE,
    LayerKind,
    ParamInfo,
)
from explorer.builder.presets import (
    PRESET_NOTES,
    UNSUPPORTED_PRESETS,
    convertible_presets,
    from_preset,
    preset_weights,
)
from explorer.builder.shapes import (
    LayerReport,
    NetworkReport,
    analyse,
    describe_shape,
    infer_shapes,
    parameter_count,
    shape_text,
)
from explorer.builder.spec import (
    NAME_RULE,
    LayerPath,
    LayerSpec,
    NetworkSpec,
    clean_name,
    describe_path,
    layer_names,
    walk,
)
from explorer.builder.spec_json import export_spec_json, import_spec_json, spec_from_dict
from explorer.builder.store import (
    DATA_DIR_ENV,
    NetworkStore,
    SavedNetwork,
    StoreError,
    default_data_dir,
)
from explorer.builder.toydata import TOY_DATASETS, ToyDataset, load_toy, toy_for_features
from explorer.builder.weights import (
    check_state_dict,
    expected_state,
    export_weights,
    import_weights,
)

__all__ = [
    "CLASS_NAME",
    "DATA_DIR_ENV",
    "INIT_SEED",
    "MAX_ACTIVATIONS",
    "MAX_DEPTH",
    "MAX_LAYERS",
    "MAX_MULTIPLY_ADDS",
    "MAX_NAME_CHARS",
    "MAX_PARAMETERS",
    "MNIST_DESCRIPTION",
    "NAME_RULE",
    "PALETTE",
    "PRESET_NOTES",
    "TOY_DATASETS",
    "UNSUPPORTED_PRESETS",
    "LayerKind",
    "LayerPath",
    "LayerReport",
    "LayerSpec",
    "Network",
    "NetworkReport",
    "NetworkSpec",
    "NetworkStore",
    "ParamInfo",
    "Residual",
    "SavedNetwork",
    "StoreError",
    "ToyDataset",
    "TrainingData",
    "analyse",
    "append_layer",
    "build",
    "check_buildable",
    "check_state_dict",
    "clean_name",
    "compile_network",
    "convertible_presets",
    "default_config",
    "default_data_dir",
    "default_layer",
    "describe_path",
    "describe_shape",
    "expected_state",
    "export_spec_json",
    "export_weights",
    "from_preset",
    "generate_code",
    "get_layer",
    "import_spec_json",
    "import_weights",
    "infer_shapes",
    "insert_layer",
    "layer_names",
    "load_toy",
    "move_layer",
    "parameter_count",
    "preset_weights",
    "remove_layer",
    "replace_layer",
    "shape_text",
    "spec_from_dict",
    "toy_for_features",
    "train_network",
    "training_data",
    "training_problem",
    "update_params",
    "walk",
]
