"""Saving functional-model subclasses (``FloodingModel``, ``TheseusModel``): tf-keras' ``Functional`` omits the
graph from a subclass's config, so each writes the network config itself and rebuilds from it."""


def network_config(model):
    """The graph config of a functional ``model`` (what ``Functional.get_config`` writes), to add fields to."""
    from tf_keras.src.engine import functional
    return functional.get_network_config(model, config={'name': model.name, 'trainable': model.trainable})


def from_network_config(cls, config, custom_objects=None, **kwargs):
    """``cls(inputs, outputs, name, **kwargs)`` rebuilt from a :func:`network_config` (the subclass' own fields
    already popped from ``config`` and passed as ``kwargs``)."""
    from tf_keras.src.engine import functional
    inputs, outputs, layers = functional.reconstruct_from_config(config, custom_objects)
    model = cls(inputs=inputs, outputs=outputs, name=config.get('name'), **kwargs)
    functional.connect_ancillary_layers(model, layers)
    return model
