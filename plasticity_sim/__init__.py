"""plasticity_sim: rate-neuron networks learning the Random Hierarchy Model with local rules.

What a script needs is here, imported on first use (``import plasticity_sim`` stays fast)::

    from plasticity_sim import Grammar, Model, Rule, Pathway, train, StateMonitor
"""

__version__ = "0.2.0"

from .errors import DivergenceError, ParameterError, PlasticitySimError  # noqa: E402

#: public name -> the module that defines it
_EXPORTS = {
    "Grammar": "rhm", "sample": "rhm", "train_test": "rhm", "Stream": "rhm",
    "epoch_stream": "rhm", "view_stream": "rhm", "fixation_stream": "rhm",
    "Rule": "rules", "Pathway": "rules", "get_rule": "rules", "RULES": "rules",
    "Model": "model", "Training": "model", "Pairing": "model", "NeuronModel": "network.neurons",
    "train": "backends.torch.train", "Trainer": "backends.torch.train",
    "AlignmentMonitor": "analysis", "StateMonitor": "analysis",
    "crosscheck": "cross_check", "CrossCheck": "cross_check", "run_brian2": "backends.brian2",
    "TorchEngine": "engines", "Brian2Engine": "engines", "Trajectory": "engines",
    "NetworkPlan": "rules.plan", "Key": "rules.plan", "draw_initial_state": "rules.plan",
    "load_experiment": "experiment", "build_experiment": "experiment",
    "run_sweep": "sweep", "open_dataset": "io", "write_dataset": "io",
}

__all__ = ["ParameterError", "DivergenceError", "PlasticitySimError", "__version__",
           *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        from importlib import import_module

        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value  # once
        return value
    raise AttributeError(f"module 'plasticity_sim' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
